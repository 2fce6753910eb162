/**
 * X2, S2, S8: faults between consuming an approval and starting the command. Found by fault injection
 * and fixed: the consumption record is written whole and then link()ed into place (a crash never leaves
 * a torn record); a crash after consuming is reported by `guard audit verify` as an approval used up by a
 * run that never started, not as tampering; and a 74 after consuming says the approval is spent. The
 * faults come from test/fault/fault-hook.mjs: a real SIGKILL of guard, or a store write failing with
 * ENOSPC, at one exact step.
 *
 * Reproduce by hand (file store, an approved request ID for ./maintenance/purge-x.sh):
 *   GUARD_TEST_FAULT='{"trace":"/tmp/t"}' node --import test/fault/fault-hook.mjs bin/guard.js run --request ID --confirm production
 * then, with a fresh approved request, fault the step the trace shows as the consumed/<id>.json writeFile,
 * or the 2nd / 3rd write to audit/events.jsonl:
 *   GUARD_TEST_FAULT='{"at":N,"action":"kill"}' node --import test/fault/fault-hook.mjs bin/guard.js run --request ID --confirm production
 *   guard audit verify; guard requests
 *
 * The traced run and every faulted run are the built CLI with the hook (the kill and the failing write
 * act on a real process); the approved requests before them and the read-outs after them (`audit
 * verify`, `requests`, `show`) run guard in the test process (guardIn, ../helpers/in-process.ts).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { World } from "../e2e/world.js";
import { tracedWorld } from "../fault/harness.js";
import { auditVerifyIn, guardRunIn } from "./in-process-harness.js";

const { world, faulted } = tracedWorld("found-x2", { inProcess: true });
let w: World;
beforeAll(() => {
  w = world();
});

describe("X2/S2: a crash while the consumption record is written", () => {
  // consume() creates consumed/<id>.json with O_EXCL and writes it afterwards; dying in between leaves an
  // empty file, which every later read takes for tampering (65). Suggested fix: write it like the other
  // records (temporary file, fsync, link() to the final name: link is just as exclusive).
  it.each(["kill", "ENOSPC"] as const)("X2 (%s): `guard audit verify`, `guard requests` and `guard show` still work and explain it", async (action) => {
    const o = await faulted("consumption record written, not yet linked", action);
    expect(o.ran).toBe(0);
    const v = await auditVerifyIn(w, o.env);
    expect(v.report, `verify produced no report: ${v.stderr}`).not.toBeNull();
    const list = await guardRunIn(w, ["requests", "--all"], { as: "bob", env: o.env });
    expect(list.code, `one torn record blocks the listing of every request: ${list.stderr}`).toBe(0);
    const show = await guardRunIn(w, ["show", o.id], { as: "bob", env: o.env });
    expect(show.code, show.stderr).toBe(0);
  });
});

describe("X2: guard killed after consuming, before the command started", () => {
  it("X2: killed before request.consumed is recorded: verify reports an interrupted run, not an integrity failure (65)", async () => {
    const o = await faulted("consumed, before request.consumed is written", "kill");
    expect(o.ran).toBe(0);
    const v = await auditVerifyIn(w, o.env);
    expect(v.code, `a crash is reported as tampering: ${JSON.stringify(v.report?.problems)}`).toBe(0);
    expect(v.report?.consumedNeverStarted).toHaveLength(1);
  });

  it("X2: killed after request.consumed, before run.started: verify says an approval was consumed and never ran", async () => {
    const o = await faulted("request.consumed written, before run.started", "kill");
    expect(o.ran).toBe(0);
    const v = await auditVerifyIn(w, o.env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.report?.consumedNeverStarted, "the consumed approval that never ran is not reported").toHaveLength(1);
  });
});

describe("S8: the store fails after consuming, before the command started", () => {
  it("S8: run.started cannot be recorded (ENOSPC): 74 says the approval is now used up, and verify reports it", async () => {
    const o = await faulted("request.consumed written, before run.started", "ENOSPC");
    expect(o.code).toBe(74);
    expect(o.ran).toBe(0);
    expect(o.stderr).toMatch(/approval (is|was) (now )?(used|consumed|spent)|consumed/i);
    const v = await auditVerifyIn(w, o.env);
    expect(v.report?.consumedNeverStarted).toHaveLength(1);
  });
});
