/**
 * S8 with real file systems: the store on a small tmpfs that fills up, or is remounted read-only, after
 * the approval and before the run. Guard must refuse with 74 naming the cause, run nothing and consume
 * nothing; once space (or write access) is back, the same approval runs exactly once. Mounting needs
 * root, which CI has; the mounts live under the test's own temp dir and are always unmounted.
 *
 * The runs on the full or read-only store are the built CLI (what a real guard process does when its
 * writes fail); the approved requests, the read-outs (`show`, `audit verify`, `requests --review`) and
 * the runs once the store is writable again run guard in the test process (the harness's inProcess).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { makeWorld, type World } from "../e2e/world.js";
import { addPurgeScript, approvedRequest, auditVerify, consumedOnDisk, guardRun, runRequest, runsOf, statusOf } from "./harness.js";

const exec = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const IN = { inProcess: true } as const;

let w: World;
beforeAll(async () => {
  w = await makeWorld();
  await addPurgeScript(w);
});
afterAll(async () => w?.cleanup());

/** A fresh 256 KiB tmpfs holding a store; always unmounted afterwards. */
async function withTmpfsStore(name: string, body: (mnt: string, env: Record<string, string>) => Promise<void>): Promise<void> {
  const mnt = join(w.dir, name);
  await mkdir(mnt);
  await exec("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt]);
  try {
    await body(mnt, { GUARD_STORE: `file:${join(mnt, "store")}` });
  } finally {
    await exec("umount", [mnt]).catch(() => exec("umount", ["-l", mnt]));
    await rm(mnt, { recursive: true, force: true });
  }
}

describe.runIf(asRoot)("S8: the store's file system fails between approval and run", () => {
  it("S8: disk full: 74 with ENOSPC, nothing ran, nothing consumed; after freeing space the approval runs once", async () => {
    await withTmpfsStore("full", async (mnt, env) => {
      const tag = "--ticket=disk-full";
      const id = await approvedRequest(w, tag, env, IN);
      const filler = join(mnt, "filler");
      await exec("sh", ["-c", `dd if=/dev/zero of=${filler} bs=4k 2>/dev/null || true`]);
      const r = await runRequest(w, id, { env });
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toMatch(/ENOSPC/);
      expect(await runsOf(w, tag)).toBe(0);
      expect(consumedOnDisk(join(mnt, "store"), id)).toBe(false);
      // Reading still works on a full disk: the approval is intact and the log verifies.
      expect(await statusOf(w, id, env, IN)).toBe("approved");
      expect((await auditVerify(w, env, IN)).code).toBe(0);

      await rm(filler);
      const again = await runRequest(w, id, { env, ...IN });
      expect(again.code, again.stderr).toBe(0);
      expect(await runsOf(w, tag)).toBe(1);
    });
  });

  it("S8: read-only: 74 with EROFS, nothing ran, nothing consumed; read-write again, the approval runs once", async () => {
    await withTmpfsStore("ro", async (mnt, env) => {
      const tag = "--ticket=disk-ro";
      const id = await approvedRequest(w, tag, env, IN);
      await exec("mount", ["-o", "remount,ro", mnt]);
      const r = await runRequest(w, id, { env });
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toMatch(/EROFS/);
      expect(await runsOf(w, tag)).toBe(0);
      expect(consumedOnDisk(join(mnt, "store"), id)).toBe(false);
      expect(await statusOf(w, id, env, IN)).toBe("approved");
      const v = await auditVerify(w, env, IN);
      expect(v.code, v.stderr).toBe(0);

      await exec("mount", ["-o", "remount,rw", mnt]);
      const again = await runRequest(w, id, { env, ...IN });
      expect(again.code, again.stderr).toBe(0);
      expect(await runsOf(w, tag)).toBe(1);
    });
  });

  it("read-only, and from before the break-glass index (no index/v2): `requests --review` and `audit verify` read every request instead (0)", async () => {
    await withTmpfsStore("ro-old", async (mnt, env) => {
      await approvedRequest(w, "--ticket=ro-old", env, IN);
      await rm(join(mnt, "store", "index", "v2"));
      await rm(join(mnt, "store", "index", "break-glass"), { recursive: true, force: true });
      await exec("mount", ["-o", "remount,ro", mnt]);
      const review = await guardRun(w, ["requests", "--review", "--json"], { as: "bob", env, ...IN });
      expect(review.code, review.stderr).toBe(0);
      expect(JSON.parse(review.stdout)).toEqual({ requests: [], damaged: [] });
      const v = await auditVerify(w, env, IN);
      expect(v.code, v.stderr).toBe(0);
    });
  });
});
