import { describe, expect, it } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { openStore } from "../../src/adapters/store/open.js";
import { describeStoreContract } from "./contract.js";

/**
 * The shared Store contract on the in-memory store, the test seam the in-process command tests use
 * (test/commands). One place per test; `reopen` is a second instance on the same place, as another
 * process would open the same directory or database.
 */
describeStoreContract("memory", async () => {
  const place = new MemoryPlace();
  const store = openMemoryStore(place);
  return {
    store,
    reopen: async () => openMemoryStore(place),
    plantRequest: async (id, body) => {
      place.requests.set(id, body);
    },
    plantConsumption: async (requestId, body) => {
      place.consumptions.set(requestId, body);
    },
    plantApproval: async (requestId, body) => {
      let mine = place.approvals.get(requestId);
      if (!mine) place.approvals.set(requestId, (mine = new Map()));
      mine.set("ab".repeat(32), body);
    },
    plantBreakGlassEntry: async (name) => {
      place.breakGlass.add(name);
    },
    cleanup: () => store.close(),
  };
}, { breakGlassEntries: true });

describe("the memory store is a test seam only", () => {
  it("nothing in src/ imports it: the built CLI does not even contain it", async () => {
    const src = fileURLToPath(new URL("../../src", import.meta.url));
    const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith(".ts") && !f.endsWith(join("store", "memory.ts")));
    const importers: string[] = [];
    for (const f of files) if (/from "[^"]*store\/memory\.js"|import\("[^"]*store\/memory\.js"\)/.test(await readFile(join(src, f), "utf8"))) importers.push(f);
    expect(files.length).toBeGreaterThan(50);
    expect(importers).toEqual([]);
  });

  it.each(["memory:", "memory://x", "mem:/tmp/x"])("no store location selects it: %s is refused (64)", async (url) => {
    await expect(openStore(url)).rejects.toMatchObject({ exitCode: 64 });
  });
});
