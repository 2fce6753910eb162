/**
 * Issue 12 item 5, with the built CLI and real keys: every refusal of run, request, approve and deny
 * appends exactly one audit event (run.refused, request.refused, approval.refused) carrying the actor,
 * the request id and a closed reason code; a flood of identical refusals stays bounded, with the count
 * of the ones left out carried by the next event; reads are not audited.
 *
 * Who may approve or deny, and each refusal of `guard run --request` (replay, another person, another
 * working directory, a wrong --confirm, piped stdin), are tables in process with the same events:
 * test/commands/approve.test.ts and test/commands/run-request.test.ts. Kept here, with the file store:
 * a refused approval, a policy deny's event, reads, the size bound, and the flood (itself `guard run
 * --request` refused for a wrong --confirm, 41 times).
 *
 * Each guard here runs its whole command line in process (guardIn, test/helpers/in-process.ts) except:
 * the policy deny's `guard run`, through the built CLI as the file's end-to-end proof that the real bin
 * appends its event, and the flood's 40 refusals, four processes at a time contending for the refusal
 * limiter's lock (guardIn runs one guard at a time).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { REFUSAL_CODES, REFUSAL_LIMITS } from "../../src/core/refusal.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";
interface Event {
  seq: number;
  type: string;
  actor: { principal: string | null; fingerprint: string | null; user: string | null };
  data: Record<string, unknown>;
}

let w: World;
const events = async (): Promise<Event[]> =>
  (await readFile(join(w.store, "audit", "events.jsonl"), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Event);
const headSeq = async (): Promise<number> => (await events()).at(-1)?.seq ?? 0;

/** Run a guard command that must refuse with `code` (in process unless `via` says); returns the events it appended. */
async function refused(exit: number, args: string[], opts: Parameters<typeof guardIn>[2], via: typeof guardIn = guardIn): Promise<Event[]> {
  const before = await headSeq();
  const r = await via(w, args, opts);
  expect(r.code, r.stderr).toBe(exit);
  return (await events()).filter((e) => e.seq > before);
}

/** A pending request of alice's for the purge, by `guard request`. */
async function pendingRequest(tag: string): Promise<string> {
  const r = await guardIn(w, ["request", "--reason", tag, "--", PURGE, `--ticket=${tag}`], { as: "alice", env: PROD });
  expect(r.code, r.stderr).toBe(0);
  return requestIdIn(r.stdout);
}

beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

describe("issue 12.5: each refusal appends exactly one event with its code", () => {
  it("a tampered request record (65): approval.refused and run.refused, code tampered", async () => {
    const id = await pendingRequest("tampered");
    const file = join(w.store, "requests", `${id}.json`);
    const signed = JSON.parse(await readFile(file, "utf8")) as { request: { reason: string } };
    signed.request.reason = "something harmless";
    await writeFile(file, JSON.stringify(signed, null, 2));
    const approve = await refused(65, ["approve", id, "--yes"], { as: "bob" });
    expect(approve).toHaveLength(1);
    expect(approve[0]).toMatchObject({ type: "approval.refused", actor: { principal: "bob" }, data: { code: "tampered", requestId: id, exitCode: 65 } });
  });

  it("a policy deny keeps run.refused's shape (argv, reasons, evidence) and adds the code; guard request records request.refused", async () => {
    const run = await refused(77, ["run", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { env: PROD }, guard);
    expect(run).toHaveLength(1);
    expect(run[0]).toMatchObject({ type: "run.refused", data: { code: "policy-deny", argv: ["./maintenance/migrate-lb-schema.sh", "--drop-all"], exitCode: 77 } });
    expect(run[0]!.data.reasons).toEqual([expect.stringMatching(/release pipeline/)]);
    expect(run[0]!.data.evidence).toBeDefined();
    const req = await refused(77, ["request", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { as: "alice", env: PROD });
    expect(req).toHaveLength(1);
    expect(req[0]).toMatchObject({ type: "request.refused", actor: { principal: "alice" }, data: { code: "policy-deny" } });
  });

  it("reads are not audited; every code recorded is one of the closed set; the log still verifies", async () => {
    const before = await headSeq();
    await guardIn(w, ["show", "r-aaaaaaaaaaaaaaaaaaaa"], { as: "alice" });
    await guardIn(w, ["check", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { env: PROD });
    expect(await headSeq()).toBe(before);
    for (const e of (await events()).filter((x) => x.type.endsWith(".refused"))) expect(REFUSAL_CODES).toContain(e.data.code);
  });

  it("an oversized argv is cut: the event's data stays within its 8 KiB bound", async () => {
    const huge = Array.from({ length: 300 }, (_, i) => `--x${i}=${"y".repeat(2000)}`);
    const added = await refused(77, ["run", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all", ...huge], { env: PROD });
    expect(added).toHaveLength(1);
    expect(JSON.stringify(added[0]!.data).length).toBeLessThanOrEqual(REFUSAL_LIMITS.maxBytes);
    expect(added[0]!.data.code).toBe("policy-deny");
    expect(JSON.stringify(added[0]!.data)).toContain("…[cut");
  });
});

describe("issue 12.5: a flood of identical refusals stays bounded", () => {
  // 40 refusals, four times the limit (REFUSAL_LIMITS.perWindow is 10): as many as make the bound bite and
  // keep 4 processes contending for the limiter's lock; each one is a spawned guard (about 0.1 s of CPU).
  it("40 identical refusals (4 times the limit) append at most the limit a minute; the next event carries the count of the rest", { timeout: 240_000 }, async () => {
    const isFlood = (e: Event): boolean => e.type === "run.refused" && e.data.code === "confirm-mismatch" && e.actor.principal === "carol";
    // carol's own approved request (approved by alice), refused for a wrong --confirm 40 times, 4 at a time.
    const r = await guardIn(w, ["request", "--reason", "flood", "--", PURGE, "--ticket=flood"], { as: "carol", env: PROD });
    const id = requestIdIn(r.stdout);
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "alice" })).code).toBe(0);
    const started = Date.now();
    const N = 4 * REFUSAL_LIMITS.perWindow;
    expect(N).toBe(40);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < N) {
        next++;
        const x = await guard(w, ["run", "--request", id, "--confirm", "staging"], { as: "carol", env: PROD });
        expect(x.code, x.stderr).toBe(77);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const minutes = Math.ceil((Date.now() - started) / REFUSAL_LIMITS.windowMs);
    const flood = (await events()).filter(isFlood);
    expect(flood.length).toBeGreaterThanOrEqual(REFUSAL_LIMITS.perWindow);
    expect(flood.length).toBeLessThanOrEqual(REFUSAL_LIMITS.perWindow * (minutes + 1));

    // The window ends (moved back in carol's limiter state, as a minute passing would): the next refusal
    // is logged and carries how many were left out, so every refusal is accounted for.
    const stateFile = join(w.home, ".local", "state", "access-guard-limits", "refusals.json");
    const state = JSON.parse(await readFile(stateFile, "utf8")) as { entries: Record<string, { windowStart: number; suppressed: number }> };
    for (const e of Object.values(state.entries)) e.windowStart -= REFUSAL_LIMITS.windowMs;
    await mkdir(join(w.home, ".local", "state", "access-guard-limits"), { recursive: true });
    await writeFile(stateFile, JSON.stringify(state));
    const last = await refused(77, ["run", "--request", id, "--confirm", "staging"], { as: "carol", env: PROD });
    expect(last).toHaveLength(1);
    expect(last[0]!.data.suppressed).toBeGreaterThan(0);
    const all = (await events()).filter(isFlood);
    const accounted = all.reduce((n, e) => n + 1 + (typeof e.data.suppressed === "number" ? e.data.suppressed : 0), 0);
    expect(accounted).toBe(N + 1);
  });
});
