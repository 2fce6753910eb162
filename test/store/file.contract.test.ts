import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFileStore } from "../../src/adapters/store/file.js";
import { describeStoreContract } from "./contract.js";

describeStoreContract("file", async () => {
  const parent = await mkdtemp(join(tmpdir(), "guard-store-"));
  const dir = join(parent, "store");
  const store = await openFileStore(dir);
  return {
    store,
    reopen: () => openFileStore(dir, { create: false }),
    plantRequest: async (id, body) => {
      await mkdir(join(dir, "requests"), { recursive: true, mode: 0o700 });
      await writeFile(join(dir, "requests", `${id}.json`), body, { mode: 0o600 });
    },
    plantConsumption: async (requestId, body) => {
      await mkdir(join(dir, "consumed"), { recursive: true, mode: 0o700 });
      await writeFile(join(dir, "consumed", `${requestId}.json`), body, { mode: 0o600 });
    },
    plantApproval: async (requestId, body) => {
      await mkdir(join(dir, "approvals", requestId), { recursive: true, mode: 0o700 });
      await writeFile(join(dir, "approvals", requestId, `${"ab".repeat(32)}.json`), body, { mode: 0o600 });
    },
    plantBreakGlassEntry: async (name) => {
      await mkdir(join(dir, "index", "break-glass"), { recursive: true, mode: 0o700 });
      // Some names ("..") cannot be files: the directory already holds them.
      await writeFile(join(dir, "index", "break-glass", name), "", { mode: 0o600 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EISDIR") throw e;
      });
    },
    cleanup: async () => {
      await store.close();
      await rm(parent, { recursive: true, force: true });
    },
  };
}, { breakGlassEntries: true });
