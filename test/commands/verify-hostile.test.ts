/**
 * `guard audit verify` over a store a writer has had a go at, as a property: a genuine history (a request,
 * an approval, a run that consumed it, and a denied request, all made by guard's own commands with real
 * ssh-keygen keys), then one random edit of one record or one audit line, or its removal
 * (test/helpers/store-edits.ts). Whatever the edit, verify answers: a report, or — for an audit line that
 * is not an event at all, which it names — an integrity failure (65), never an internal error (70).
 * Nothing it reports carries a control character (the edge escapes a failure's message), nor does
 * `guard audit log` of the same store, whole or filtered. And with the
 * genuine head as its anchor (a cut tail is seen only against one, S7), every edit of what guard signs,
 * names by its content or chains is reported (`ok: false`). Consumption records are not signed: an edit
 * of one that keeps guard's shape and the request's digest is invisible to verify, so for them only the
 * first two hold unless the shape breaks.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveCommand, denyCommand } from "../../src/commands/approve.js";
import { requestCommand } from "../../src/commands/request.js";
import { runCommand } from "../../src/commands/run.js";
import { auditLogCommand, auditVerifyCommand, verifyStore } from "../../src/commands/audit.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { ExitCode } from "../../src/core/errors.js";
import { validateConsumptionShape } from "../../src/core/request.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { editedCopy, edits, expectAnswered, slotsOf } from "../helpers/store-edits.js";
import { makeProject, NOW, type Project } from "./project.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = ["./maintenance/purge-lb-state.sh", "--all"];

let p: Project;
let genuine: MemoryPlace;
let head: { seq: number; hash: string };
/** The history's requests: the one approved and run, the one denied. */
const ids: string[] = [];

beforeAll(async () => {
  p = await makeProject();
  genuine = new MemoryPlace();
  const as = (who: string) => p.runtime({ as: who, env: PROD, place: genuine });
  const ask = async (): Promise<string> => {
    const alice = as("alice");
    expect(await exitCodeOf(alice, () => requestCommand(PURGE, { reason: "INC-9" }, alice)), alice.stderr()).toBe(0);
    return alice.stdout().trim();
  };
  const used = await ask();
  ids.push(used);
  const bob = as("bob");
  expect(await exitCodeOf(bob, () => approveCommand(used, { yes: true }, bob)), bob.stderr()).toBe(0);
  const run = as("alice");
  expect(await exitCodeOf(run, () => runCommand(PURGE, { request: used, confirm: "production" }, run)), run.stderr()).toBe(0);
  const denied = await ask();
  ids.push(denied);
  const bob2 = as("bob");
  expect(await exitCodeOf(bob2, () => denyCommand(denied, { reason: "not now" }, bob2)), bob2.stderr()).toBe(0);
  const v = await verifyStore(openMemoryStore(genuine, { now: () => NOW }));
  expect(v.problems).toEqual([]);
  expect(v.ok).toBe(true);
  head = v.report.head!;
}, 60_000);
afterAll(async () => p?.cleanup());

function keepsConsumptionShape(text: string): boolean {
  try {
    validateConsumptionShape(JSON.parse(text));
    return true;
  } catch {
    return false;
  }
}

describe("guard audit verify over a store a writer has edited (property)", () => {
  it("answers, escapes everything it reports, and reports every edit of what guard signs, names by content or chains", async () => {
    const all = slotsOf(genuine);
    expect(new Set(all.map((s) => s.kind))).toEqual(new Set(["request", "approval", "consumption", "event"]));
    await fc.assert(
      fc.asyncProperty(fc.nat(), edits, async (which, edit) => {
        const { place, slot, after, changed, what } = editedCopy(genuine, all, which, edit);
        // The command as a person runs it, in text: what reaches the terminal.
        const rt = p.runtime({ place });
        const code = await exitCodeOf(rt, () => auditVerifyCommand({ anchor: `${head.seq}:${head.hash}` }, rt));
        expect([ExitCode.OK, ExitCode.INTEGRITY], `${what}: ${rt.stderr()}`).toContain(code);
        expectAnswered({ code, stdout: rt.stdout(), stderr: rt.stderr() }, what);
        // And the log as `guard audit log` shows it, whole and filtered (the same reader's other paths).
        for (const opts of [{}, { request: ids[0]!, type: "approval" }]) {
          const log = p.runtime({ place });
          const logged = await exitCodeOf(log, () => auditLogCommand(opts, log));
          expect([ExitCode.OK, ExitCode.INTEGRITY], `${what}; audit log: ${log.stderr()}`).toContain(logged);
          expectAnswered({ code: logged, stdout: log.stdout(), stderr: log.stderr() }, `${what}; audit log`);
        }
        if (!changed) return;
        if (slot.kind === "consumption" && after !== null && keepsConsumptionShape(after)) return;
        expect(code, `${what}: ${rt.stdout()}`).toBe(ExitCode.INTEGRITY);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
