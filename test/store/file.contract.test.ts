import { mkdtemp, rm } from "node:fs/promises";
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
    cleanup: async () => {
      await store.close();
      await rm(parent, { recursive: true, force: true });
    },
  };
});
