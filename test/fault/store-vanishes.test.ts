/**
 * The store directory disappears between the request (75) and the approved run: a clear refusal that
 * names the store, nothing runs, and the approval in the store that went away is untouched (it runs
 * once when the store comes back). A store that silently reappears empty is a deleted audit log, which
 * only an anchor kept elsewhere can show (S7).
 *
 * The runs that meet the vanished store are the built CLI (what a real guard process does when its store
 * is gone); the approved requests, `audit verify` (with and without an anchor, and of the vanished store)
 * and the run once the store is back run guard in the test process (the harness's inProcess).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { makeWorld, type World } from "../e2e/world.js";
import { PROD, PURGE, addPurgeScript, approvedRequest, auditVerify, consumedOnDisk, guardRun, runRequest, runsOf } from "./harness.js";

const IN = { inProcess: true } as const;
let w: World;
beforeAll(async () => {
  w = await makeWorld();
  await addPurgeScript(w);
});
afterAll(async () => w?.cleanup());

describe("the store directory disappears between request and run", () => {
  it("guard run --request: refused naming the store and the request, nothing runs, and the approval survives", async () => {
    const tag = "--ticket=vanish-1";
    const id = await approvedRequest(w, tag, {}, IN);
    const head = (await auditVerify(w, {}, IN)).report?.head;
    if (!head) throw new Error("no audit head");
    const away = `${w.store}.away`;
    await rename(w.store, away);
    try {
      const r = await runRequest(w, id);
      expect([64, 65, 74], r.stderr).toContain(r.code);
      expect(r.stderr).toContain(id);
      expect(r.stderr).toContain(w.store);
      expect(r.stdout).toBe("");
      expect(await runsOf(w, tag)).toBe(0);
      expect(consumedOnDisk(away, id)).toBe(false);

      // S7: the store is back but empty — its audit log was "deleted". Only the anchor sees it.
      const anchored = await guardRun(w, ["audit", "verify", "--json", "--anchor", `${head.seq}:${head.hash}`], IN);
      expect(anchored.code).toBe(65);
      expect(JSON.parse(anchored.stdout).problems.join("\n")).toMatch(/behind anchor/);
    } finally {
      await rm(w.store, { recursive: true, force: true });
      await rename(away, w.store);
    }
    const back = await runRequest(w, id, IN);
    expect(back.code, back.stderr).toBe(0);
    expect(await runsOf(w, tag)).toBe(1);
  });

  it("guard run -- CMD: the approved request is not found, so a new one is needed (75); nothing runs", async () => {
    const tag = "--ticket=vanish-2";
    const id = await approvedRequest(w, tag, {}, IN);
    const away = `${w.store}.away`;
    await rename(w.store, away);
    try {
      const r = await guardRun(w, ["run", "--reason", "again", "--confirm", "production", "--", PURGE, tag], { as: "alice", env: PROD });
      expect(r.code, r.stderr).toBe(75);
      expect(r.stderr).not.toContain(id);
      expect(await runsOf(w, tag)).toBe(0);
      expect(consumedOnDisk(away, id)).toBe(false);
      expect(existsSync(w.store), "a missing store is created again on first write").toBe(true);
    } finally {
      await rm(w.store, { recursive: true, force: true });
      await rename(away, w.store);
    }
  });

  it("guard audit verify never creates a store: a vanished store is a 74 naming it, not an empty log that verifies", async () => {
    const away = `${w.store}.away`;
    await rename(w.store, away);
    try {
      const v = await auditVerify(w, {}, IN);
      expect(v.code).toBe(74);
      expect(v.stderr).toContain(w.store);
      expect(existsSync(w.store)).toBe(false);
    } finally {
      await rename(away, w.store);
    }
  });
});
