import { describe, expect, it } from "vitest";
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
    cleanup: () => store.close(),
  };
});

describe("the memory store is a test seam only", () => {
  it.each(["memory:", "memory://x", "mem:/tmp/x"])("no store location selects it: %s is refused (64)", async (url) => {
    await expect(openStore(url)).rejects.toMatchObject({ exitCode: 64 });
  });
});
