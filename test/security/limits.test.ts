/**
 * Cases whose full answer is a documented limit (SECURITY.md, "What guard cannot bind"), tested for the
 * part guard does promise: C9 (Windows batch files: the Node floor that refuses them), S7/A8 (a store
 * rolled back wholesale: only an anchor kept elsewhere can tell).
 *
 * S7's request, approval, first run and audit checks run guard's command line in the test process
 * (guardIn, through ./in-process-harness), without a Node process each; the replay against the
 * rolled-back store goes through the built CLI, as a real guard process would meet it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, makeWorld, type World } from "../e2e/world.js";
import { addPurgeScript, runRequest, runsOf } from "../fault/harness.js";
import { approvedRequestIn, auditVerifyIn, guardRunIn, runRequestIn } from "./in-process-harness.js";

const version = (v: string): number[] => v.replace(/^[^\d]*/, "").split(".").map(Number);
const atLeast = (v: number[], min: number[]): boolean => {
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i]!;
  return true;
};

describe("C9: Windows .bat/.cmd argument injection (CVE-2024-27980, CVE-2024-36138)", () => {
  it("C9: package.json requires a Node that refuses to spawn .bat/.cmd without a shell (≥ 20.15.1), and this one does", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
    // Each alternative of the range (">=X", "^X", joined by "||") has a floor of at least 20.15.1, and the
    // Node running the tests satisfies one of them.
    const alternatives = pkg.engines.node.split("||").map((a) => /^\s*(>=|\^)\s*(\d+\.\d+\.\d+)\s*$/.exec(a));
    expect(alternatives.every((a) => a !== null), `engines.node is ${pkg.engines.node}`).toBe(true);
    for (const a of alternatives) expect(atLeast(version(a![2]!), [20, 15, 1])).toBe(true);
    const running = version(process.versions.node);
    const satisfied = alternatives.some((a) => atLeast(running, version(a![2]!)) && (a![1] === ">=" || running[0] === version(a![2]!)[0]));
    expect(satisfied, `Node ${process.versions.node} does not satisfy ${pkg.engines.node}`).toBe(true);
  });
});

describe("S7/A8: a store rolled back wholesale (documented limit: only an external anchor sees it)", () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
    await addPurgeScript(w);
  });
  afterAll(async () => w?.cleanup());

  it("S7: restoring a copy of the store taken before the run either refuses the replay, or `audit verify --anchor` reports it", async () => {
    const tag = "--ticket=rollback";
    const id = await approvedRequestIn(w, tag);
    const snapshot = `${w.store}.snapshot`;
    await cp(w.store, snapshot, { recursive: true, preserveTimestamps: true });
    expect((await runRequestIn(w, id)).code).toBe(0);
    const head = (await auditVerifyIn(w)).report?.head;
    if (!head) throw new Error("no audit head after a run");

    // The store writer puts back the whole store as it was before the run: records and log agree.
    await rm(w.store, { recursive: true });
    await cp(snapshot, w.store, { recursive: true, preserveTimestamps: true });
    // The replay through the built CLI: what a real guard process does with the rolled-back store.
    const replay = await runRequest(w, id);
    const anchored = await guardRunIn(w, ["audit", "verify", "--json", "--anchor", `${head.seq}:${head.hash}`]);
    if (replay.code === 0) {
      // The documented limit: the replay ran a second time. The anchor must show the rollback.
      expect(await runsOf(w, tag)).toBe(2);
      expect(anchored.code).toBe(65);
      expect(JSON.parse(anchored.stdout).problems.join("\n")).toMatch(/anchor/);
    } else {
      expect(await runsOf(w, tag)).toBe(1);
    }
    await rm(snapshot, { recursive: true, force: true });
  });
});
