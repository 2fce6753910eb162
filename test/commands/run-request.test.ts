/**
 * `guard run --request ID` refusals in process, as a table: an approved (or pending, denied, expired,
 * consumed, edited) request of alice's, and a run that must not use it. For each: the exit code, the one
 * run.refused event with its reason code, and that the approval is still unused where it should be.
 * Real keys and signatures, the memory store, a fixed clock, no terminal; nothing is run, so nothing is
 * spawned. A run that goes ahead, and the race for one approval, stay end to end (test/e2e/approval.test.ts).
 *
 * These carry what test/e2e/refusals.test.ts once checked through the built CLI for "replay of a consumed
 * request", "another user's request", "the wrong working directory", "a wrong --confirm" and "piped
 * stdin". End to end, test/e2e/approval.test.ts keeps a replay after a real run, and "C10: piped stdin
 * is refused…" with a real pipe (exec/stdin.test.ts: how a pipe on fd 0 is recognised).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { approveCommand, denyCommand } from "../../src/commands/approve.js";
import { requestCommand } from "../../src/commands/request.js";
import { runCommand } from "../../src/commands/run.js";
import type { RunOptions } from "../../src/commands/options.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import type { StdinKind } from "../../src/adapters/stdin.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { auditOf, makeProject, NOW, type Project } from "./project.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = ["./maintenance/purge-lb-state.sh", "--all"];
let p: Project;
beforeAll(async () => {
  p = await makeProject();
}, 30_000);
afterAll(async () => p?.cleanup());

type State = "pending" | "approved" | "denied";
async function request(state: State): Promise<{ place: MemoryPlace; id: string }> {
  const place = new MemoryPlace();
  const alice = p.runtime({ as: "alice", env: PROD, place });
  expect(await exitCodeOf(alice, () => requestCommand(PURGE, { reason: "INC-9" }, alice)), alice.stderr()).toBe(0);
  const id = alice.stdout().trim();
  const bob = p.runtime({ as: "bob", place });
  if (state === "approved") expect(await exitCodeOf(bob, () => approveCommand(id, { yes: true }, bob)), bob.stderr()).toBe(0);
  if (state === "denied") expect(await exitCodeOf(bob, () => denyCommand(id, { reason: "not now" }, bob)), bob.stderr()).toBe(0);
  return { place, id };
}

interface Row {
  name: string;
  state: State;
  /** What happened to the request before the run (a store writer's edit, an earlier use). */
  before?: (place: MemoryPlace, id: string) => Promise<void>;
  as?: string;
  opts?: RunOptions;
  env?: Record<string, string>;
  cwd?: string;
  stdin?: StdinKind;
  now?: number;
  code: number;
  refusal: string | null;
  message: RegExp;
}

const rows: Row[] = [
  {
    name: "replay: the approval was used already",
    state: "approved",
    before: async (place, id) => {
      const store = openMemoryStore(place);
      const req = (await store.getRequest(id))!.request;
      expect(await store.consume({ requestId: id, requestDigest: "00".repeat(32), consumedAt: new Date(NOW).toISOString(), by: { principal: "alice", fingerprint: req.requester.fingerprint }, host: "elsewhere", pid: 1 })).toBe(true);
    },
    code: 77,
    refusal: "replay",
    message: /has already been used/,
  },
  {
    // A used approval is refused from its consumption record alone, before the approvals are read or a
    // signature verified (what the racers that lose one approval cost): a damaged approval record, which
    // reading them would answer with 65, is not even looked at.
    name: "replay, with an approval record since damaged: refused from the consumption record",
    state: "approved",
    before: async (place, id) => {
      const store = openMemoryStore(place);
      const req = (await store.getRequest(id))!.request;
      expect(await store.consume({ requestId: id, requestDigest: "00".repeat(32), consumedAt: new Date(NOW).toISOString(), by: { principal: "alice", fingerprint: req.requester.fingerprint }, host: "elsewhere", pid: 1 })).toBe(true);
      const approvals = place.approvals.get(id)!;
      const [name, text] = [...approvals][0]!;
      const edited = JSON.parse(text) as { statement: { comment: string | null } };
      edited.statement.comment = "edited in the store";
      approvals.set(name, JSON.stringify(edited));
      await expect(store.listApprovals(id)).rejects.toThrow(/was edited/);
    },
    code: 77,
    refusal: "replay",
    message: /has already been used/,
  },
  { name: "another person runs alice's approved request", state: "approved", as: "bob", code: 77, refusal: "not-requester", message: /only its requester can run it/ },
  { name: "the wrong working directory", state: "approved", cwd: "maintenance", code: 77, refusal: "cwd-mismatch", message: /was approved for working directory .*, not .*maintenance/ },
  { name: "a --confirm that names another environment", state: "approved", opts: { confirm: "staging" }, code: 77, refusal: "confirm-mismatch", message: /does not name the target production/ },
  { name: "C10: piped standard input", state: "approved", stdin: "pipe", code: 77, refusal: "stdin-not-allowed", message: /standard input is a pipe/ },
  { name: "another target: DATABASE_URL now says staging", state: "approved", env: { DATABASE_URL: "postgres://app@staging-db.internal/elb" }, code: 77, refusal: null, message: /not the run that was approved|environment/ },
  { name: "a denied request", state: "denied", code: 77, refusal: "request-denied", message: /was denied/ },
  { name: "an expired request, an hour later", state: "approved", now: NOW + 3_600_000, code: 75, refusal: null, message: /expired/ },
  { name: "still pending, without a terminal or --wait", state: "pending", code: 75, refusal: null, message: /guard approve r-/ },
  {
    name: "the request record edited in the store after approval",
    state: "approved",
    before: async (place, id) => {
      const signed = JSON.parse(place.requests.get(id)!) as { request: { reason: string } };
      signed.request.reason = "something harmless";
      place.requests.set(id, JSON.stringify(signed));
    },
    code: 65,
    refusal: "tampered",
    message: /does not verify: the request signature does not verify/,
  },
];

describe("guard run --request: an approval used only for exactly its run, in process", () => {
  for (const row of rows) it(`${row.name} → ${row.code}`, async () => {
    const { place, id } = await request(row.state);
    await row.before?.(place, id);
    const consumedBefore = await openMemoryStore(place).getConsumption(id);
    const before = (await auditOf(place)).length;
    const rt = p.runtime({
      as: row.as ?? "alice",
      // The same environment as the request's (it is bound), but for what the row changes.
      env: { ...PROD, ...row.env },
      place,
      cwd: row.cwd ? join(p.dir, row.cwd) : undefined,
      stdin: row.stdin,
      now: row.now,
    });
    // No command: the request's own (as `guard run --request ID` is used); from another directory too.
    const argv = row.cwd ? [] : PURGE;
    const code = await exitCodeOf(rt, () => runCommand(argv, { request: id, confirm: "production", ...row.opts }, rt));
    expect(code, rt.stderr()).toBe(row.code);
    expect(rt.stdout()).toBe("");
    expect(rt.stderr()).toMatch(row.message);
    const added = (await auditOf(place)).slice(before);
    expect(added.map((e) => e.type)).not.toContain("run.started");
    expect(added.map((e) => e.type)).not.toContain("request.consumed");
    if (row.code === 77 || row.code === 65) {
      // Exactly one event, recorded as the one who tried, with the exit code and the message they saw.
      expect(added.map((e) => e.type)).toEqual(["run.refused"]);
      const refused = added[0]!;
      expect(refused.actor.principal).toBe(row.as ?? "alice");
      expect(refused.data).toMatchObject({ exitCode: row.code });
      expect(refused.data.message).toMatch(row.message);
      if (row.refusal) expect(refused.data).toMatchObject({ code: row.refusal, requestId: id });
    }
    // The approval is exactly as used (or unused) as before: a refusal never consumes it.
    expect(await openMemoryStore(place).getConsumption(id)).toEqual(consumedBefore);
  });
});

/** Resolve once `check` holds, looking every 10 ms (at most 10 s). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe("guard run --request --wait, in process", () => {
  it("Ctrl-C while waiting stops waiting (75) and keeps the request, unused", async () => {
    const { place, id } = await request("pending");
    const rt = p.runtime({ as: "alice", env: PROD, place });
    const running = exitCodeOf(rt, () => runCommand([], { request: id, confirm: "production", wait: "1h" }, rt));
    await until(() => rt.stderr().includes(`waiting for approval of ${id}`));
    rt.interrupt();
    expect(await running).toBe(75);
    expect(rt.stderr()).toContain(`stopped waiting; request ${id} is kept`);
    expect(await openMemoryStore(place).getConsumption(id)).toBeNull();
  });

  it("a denial stored while the run waits wakes it at once: 77, request-denied, nothing consumed", async () => {
    const { place, id } = await request("pending");
    const rt = p.runtime({ as: "alice", env: PROD, place });
    const running = exitCodeOf(rt, () => runCommand([], { request: id, confirm: "production", wait: "1h" }, rt));
    await until(() => rt.stderr().includes(`waiting for approval of ${id}`));
    const bob = p.runtime({ as: "bob", place });
    const t0 = Date.now();
    expect(await exitCodeOf(bob, () => denyCommand(id, { reason: "not today" }, bob)), bob.stderr()).toBe(0);
    expect(await running).toBe(77);
    expect(Date.now() - t0).toBeLessThan(900); // woken by the store's watch, not by the next one-second look
    expect(await openMemoryStore(place).getConsumption(id)).toBeNull();
    // guard's output goes to the terminal of the command started last (one command per process, as in
    // guard itself: adapters/output.ts useTerminal), here bob's: what alice was told is read from the log.
    const refused = (await auditOf(place)).filter((e) => e.type === "run.refused");
    expect(refused.map((e) => e.data.code)).toEqual(["request-denied"]);
    expect(refused[0]!.data.message).toMatch(/was denied/);
  });
});
