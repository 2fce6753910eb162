/**
 * An edited store never makes a run happen, as a property. A genuine history made by guard's own commands
 * with real ssh-keygen keys — a request approved and already run (consumed), one never approved, one
 * denied, and one approved and not yet run — then one random edit, by a store writer, of one record or
 * one audit line, or its removal (test/helpers/store-edits.ts). Whatever the edit:
 *
 * - `guard run --request` of the consumed, the unapproved and the denied request never runs the command
 *   (no exit 0, no run.started): no edit of the store is a second person's approval;
 * - the approved request may still run, or be refused, but guard answers with its documented codes,
 *   never an internal error (70); so do `guard show` and `guard requests --all`;
 * - when bob approves the unapproved request, what he signs is the request alice signed, byte for byte
 *   (its digest): no edit has a second person approve anything else;
 * - nothing any of them prints carries a control character.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveCommand, denyCommand } from "../../src/commands/approve.js";
import { requestCommand } from "../../src/commands/request.js";
import { requestsCommand, showCommand } from "../../src/commands/requests.js";
import { runCommand } from "../../src/commands/run.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { requestDigest } from "../../src/core/request.js";
import type { SignedRequest } from "../../src/core/types.js";
import { exitCodeOf, type TestRuntime } from "../helpers/runtime.js";
import { copyPlace, editedCopy, edits, expectAnswered, slotsOf } from "../helpers/store-edits.js";
import { auditOf, makeProject, type Project } from "./project.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const purge = (ticket: string): string[] => ["./maintenance/purge-lb-state.sh", "--all", `--ticket=${ticket}`];

let p: Project;
let genuine: MemoryPlace;
/** The digest of the unapproved request as alice signed it. */
let unapprovedDigest: string;
const ids: Record<"consumed" | "unapproved" | "denied" | "approved", string> = { consumed: "", unapproved: "", denied: "", approved: "" };

const as = (who: string, place: MemoryPlace): TestRuntime => p.runtime({ as: who, env: PROD, place });

beforeAll(async () => {
  p = await makeProject();
  genuine = new MemoryPlace();
  for (const name of Object.keys(ids) as Array<keyof typeof ids>) {
    const alice = as("alice", genuine);
    expect(await exitCodeOf(alice, () => requestCommand(purge(name), { reason: `INC-${name}` }, alice)), alice.stderr()).toBe(0);
    ids[name] = alice.stdout().trim();
  }
  for (const name of ["consumed", "approved"] as const) {
    const bob = as("bob", genuine);
    expect(await exitCodeOf(bob, () => approveCommand(ids[name], { yes: true }, bob)), bob.stderr()).toBe(0);
  }
  const bob = as("bob", genuine);
  expect(await exitCodeOf(bob, () => denyCommand(ids.denied, { reason: "not now" }, bob)), bob.stderr()).toBe(0);
  const run = as("alice", genuine);
  expect(await exitCodeOf(run, () => runCommand([], { request: ids.consumed, confirm: "production" }, run)), run.stderr()).toBe(0);
  unapprovedDigest = requestDigest((JSON.parse(genuine.requests.get(ids.unapproved)!) as SignedRequest).request);
  // As the history stands, only the approved request runs.
  for (const name of ["consumed", "unapproved", "denied"] as const) {
    const place = copyPlace(genuine);
    const rt = as("alice", place);
    expect(await exitCodeOf(rt, () => runCommand([], { request: ids[name], confirm: "production" }, rt)), name).not.toBe(0);
  }
}, 60_000);
afterAll(async () => p?.cleanup());

/** Runs one command on the place; its exit code, after checking what it printed. */
async function answer(place: MemoryPlace, who: string, body: (rt: TestRuntime) => Promise<void>, what: string): Promise<number> {
  const rt = as(who, place);
  const code = await exitCodeOf(rt, () => body(rt));
  return expectAnswered({ code, stdout: rt.stdout(), stderr: rt.stderr() }, what);
}

describe("an edited store never makes a run happen (property)", () => {
  it("no edit runs a consumed, unapproved or denied request; every answer is a documented one, escaped", async () => {
    const all = slotsOf(genuine);
    expect(new Set(all.map((s) => s.kind))).toEqual(new Set(["request", "approval", "consumption", "event"]));
    await fc.assert(
      fc.asyncProperty(fc.nat(), edits, async (which, edit) => {
        const { place, changed, what } = editedCopy(genuine, all, which, edit);
        if (!changed) return;
        for (const name of ["consumed", "unapproved", "denied"] as const) {
          const started = (await auditOf(place).catch(() => [])).filter((e) => e.type === "run.started").length;
          const code = await answer(place, "alice", (rt) => runCommand([], { request: ids[name], confirm: "production" }, rt), `${what}; run ${name}`);
          expect(code, `${what}; run ${name}`).not.toBe(0);
          const after = await auditOf(place).catch(() => null);
          if (after !== null) expect(after.filter((e) => e.type === "run.started").length, `${what}; run ${name}`).toBe(started);
        }
        await answer(place, "alice", (rt) => runCommand([], { request: ids.approved, confirm: "production" }, rt), `${what}; run approved`);
        const had = new Set((await openMemoryStore(place).listApprovals(ids.unapproved).catch(() => [])).map((a) => a.signature));
        if ((await answer(place, "bob", (rt) => approveCommand(ids.unapproved, { yes: true }, rt), `${what}; approve`)) === 0) {
          const signed = (await openMemoryStore(place).listApprovals(ids.unapproved)).filter((a) => !had.has(a.signature));
          expect(signed, what).toHaveLength(1);
          expect(signed[0]!.statement.requestDigest, what).toBe(unapprovedDigest);
        }
        await answer(place, "bob", (rt) => showCommand(ids.approved, {}, rt), `${what}; show`);
        await answer(place, "bob", (rt) => requestsCommand({ all: true }, rt), `${what}; requests --all`);
      }),
      { numRuns: 60 },
    );
  }, 180_000);
});
