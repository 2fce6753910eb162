import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { AuditVerifier, chainEvent, type AuditReport } from "../../src/core/audit.js";
import { canonicalJson } from "../../src/core/canonical.js";
import { planPrune, PruneScan, type PruneEvent, type PruneRecord } from "../../src/core/prune.js";
import type { AuditEvent } from "../../src/core/types.js";

const DAY = 86_400_000;
const actor = { principal: null, fingerprint: null, user: "ops" };

/** Events at day `t` naming request `r` (null: none): [seq is the position + 1]. */
const ev = (...specs: Array<[number, string | null]>): PruneEvent[] => specs.map(([t, r], i) => ({ seq: i + 1, timeMs: t * DAY, requestId: r }));
const rec = (id: string, expiresDay: number): PruneRecord => ({ id, expiresMs: expiresDay * DAY });

describe("planPrune: which prefix of the log and which requests are retired", () => {
  it.each<[string, PruneEvent[], PruneRecord[], number, { through: number; retired: string[]; deferred: number }]>([
    ["an empty log retires nothing", [], [], 10, { through: 0, retired: [], deferred: 0 }],
    [
      "events before the cutoff and the expired requests they name",
      ev([1, "a"], [1, "a"], [2, null], [3, "b"], [20, "c"]),
      [rec("a", 2), rec("b", 4), rec("c", 21)],
      10,
      { through: 4, retired: ["a", "b"], deferred: 0 },
    ],
    [
      "an unexpired request holds the prefix before its first event, and what follows is kept",
      ev([1, "a"], [2, "live"], [3, "b"], [20, null]),
      [rec("a", 2), rec("live", 30), rec("b", 4)],
      10,
      { through: 1, retired: ["a"], deferred: 1 },
    ],
    [
      "an expired request with an event after the cutoff is deferred, and holds the prefix",
      ev([1, "a"], [2, "b"], [3, null], [11, "b"]),
      [rec("a", 2), rec("b", 3)],
      10,
      { through: 1, retired: ["a"], deferred: 1 },
    ],
    [
      "the two rules feed each other: a deferred request pulls the prefix back past another's events",
      ev([1, "a"], [2, "b"], [3, "a"], [4, "keep"], [5, "b"]),
      [rec("a", 3), rec("b", 6), rec("keep", 99)],
      10,
      { through: 0, retired: [], deferred: 2 },
    ],
    [
      "a request expiring exactly at the cutoff is kept",
      ev([1, "a"], [2, null]),
      [rec("a", 10)],
      10,
      { through: 0, retired: [], deferred: 0 },
    ],
    [
      "an unreadable time stops the prefix there",
      [{ seq: 1, timeMs: 1 * DAY, requestId: null }, { seq: 2, timeMs: NaN, requestId: null }, { seq: 3, timeMs: 2 * DAY, requestId: null }],
      [],
      10,
      { through: 1, retired: [], deferred: 0 },
    ],
    [
      "a log that starts later (pruned before) is planned from its start",
      [{ seq: 41, timeMs: 1 * DAY, requestId: "a" }, { seq: 42, timeMs: 2 * DAY, requestId: null }, { seq: 43, timeMs: 12 * DAY, requestId: null }],
      [rec("a", 2)],
      10,
      { through: 42, retired: ["a"], deferred: 0 },
    ],
    [
      "a stored request no event names neither holds the prefix nor is retired",
      ev([1, null], [2, null]),
      [rec("planted", 1)],
      10,
      { through: 2, retired: [], deferred: 0 },
    ],
  ])("%s", (_name, events, records, cutoffDay, want) => {
    expect(planPrune(events, records, cutoffDay * DAY)).toEqual(want);
  });

  it("never retires a request that has not expired by the cutoff, nor an event at or after it", () => {
    for (let n = 0; n < 200; n++) {
      const ids = ["a", "b", "c", "d"];
      const specs = Array.from({ length: 12 }, (_, i): [number, string | null] => [i + Math.floor(Math.random() * 3), Math.random() < 0.7 ? ids[Math.floor(Math.random() * 4)]! : null]);
      // Half the logs in time order, half with a clock that goes backwards now and then.
      const events = ev(...(n % 2 === 0 ? specs.sort((x, y) => x[0] - y[0]) : specs));
      const records = ids.map((id) => rec(id, Math.floor(Math.random() * 16)));
      const cutoff = 8 * DAY;
      const p = planPrune(events, records, cutoff);
      for (const id of p.retired) {
        expect(records.find((r) => r.id === id)!.expiresMs).toBeLessThan(cutoff);
        for (const e of events) if (e.requestId === id) expect(e.seq).toBeLessThanOrEqual(p.through); // every event of a retired request is retired
      }
      // Nothing from the first event at or after the cutoff on is retired, whatever comes after it: the
      // PostgreSQL store keeps no event text past that one for the archive.
      const firstLate = events.find((e) => !(e.timeMs < cutoff));
      if (firstLate) expect(p.through).toBeLessThan(firstLate.seq);
      for (const e of events) {
        if (e.seq <= p.through) {
          expect(e.timeMs).toBeLessThan(cutoff);
          if (e.requestId !== null) expect(p.retired).toContain(e.requestId); // a retired event names only retired requests
        }
      }
    }
  });
});

describe("PruneScan: the planner fed one event at a time, as the stores read their logs", () => {
  it("gives planPrune's plan, how many events a plan archives, and which requests the log names", () => {
    const events = [
      { seq: 41, timeMs: 1 * DAY, requestId: "a" },
      { seq: 42, timeMs: 2 * DAY, requestId: null },
      { seq: 43, timeMs: 3 * DAY, requestId: "b" },
      { seq: 44, timeMs: 12 * DAY, requestId: "c" },
    ];
    const records = [rec("a", 2), rec("b", 20), rec("c", 5)];
    const scan = new PruneScan(10 * DAY);
    const stopped = events.map((e) => (scan.push(e.seq, e.timeMs, e.requestId), scan.stopped));
    expect(stopped).toEqual([false, false, false, true]); // from the first event at or after the cutoff on
    const plan = scan.plan(records);
    expect(plan).toEqual(planPrune(events, records, 10 * DAY));
    expect(plan).toEqual({ through: 42, retired: ["a"], deferred: 1 });
    expect([0, 40, 41, 42, 43, 44, 99].map((seq) => scan.countThrough(seq))).toEqual([0, 0, 1, 2, 3, 4, 4]);
    expect(["a", "b", "c", "d"].map((id) => scan.named(id))).toEqual([true, true, true, false]);
    expect(new PruneScan(10 * DAY).plan(records)).toEqual({ through: 0, retired: [], deferred: 0 });
  });
});

/** A log of n events, then what a prune through `k` leaves: events k+1…n and the checkpoint. */
function prunedLog(n: number, k: number, checkpoint: (through: AuditEvent) => Record<string, unknown> = defaultCheckpoint): { all: AuditEvent[]; kept: AuditEvent[] } {
  const all: AuditEvent[] = [];
  for (let i = 0; i < n; i++) all.push(chainEvent(all[i - 1] ?? null, { type: "policy.error", actor, data: { message: `m${i}` } }, "2026-01-01T00:00:00.000Z"));
  const cp = chainEvent(all[n - 1]!, { type: "store.pruned", actor, data: checkpoint(all[k - 1]!) }, "2026-02-01T00:00:00.000Z");
  all.push(cp);
  return { all, kept: all.slice(k) };
}

const defaultCheckpoint = (through: AuditEvent): Record<string, unknown> => ({
  olderThan: "30d",
  cutoff: "2026-01-02T00:00:00.000Z",
  through: { seq: through.seq, hash: through.hash },
  events: through.seq,
  requests: 0,
  approvals: 0,
  consumptions: 0,
  retired: [],
  archive: { name: "guard-archive-1-3.jsonl.gz", sha256: "a".repeat(64), bytes: 100 },
});

/** Through the full path (push) or the line path (pushLine, which the stores use). */
function verify(events: AuditEvent[], how: "push" | "lines", anchor?: { seq: number; hash: string }): AuditReport {
  const v = new AuditVerifier(anchor ? { anchor } : undefined);
  for (const e of events) {
    if (how === "push") v.push(e);
    else {
      const b = Buffer.from(canonicalJson(e));
      if (!v.pushLine(b, 0, b.length)) v.push(e);
    }
  }
  return v.finish();
}

describe.each(["push", "lines"] as const)("AuditVerifier and store.pruned checkpoints (%s)", (how) => {
  it("a log starting after event 1 verifies when a checkpoint names exactly the event before it", () => {
    const { kept } = prunedLog(6, 3);
    const r = verify(kept, how);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.start).toEqual({ seq: 4, prev: kept[0]!.prev });
    expect(r.checkpoints.map((c) => c.through.seq)).toEqual([3]);
  });

  it("everything retired: the log is the checkpoint alone", () => {
    const { kept } = prunedLog(4, 4);
    expect(kept).toHaveLength(1);
    expect(verify(kept, how).ok).toBe(true);
  });

  it.each<[string, (through: AuditEvent) => Record<string, unknown>]>([
    ["names another seq", (t) => ({ ...defaultCheckpoint(t), through: { seq: t.seq - 1, hash: t.hash } })],
    ["names another hash", (t) => ({ ...defaultCheckpoint(t), through: { seq: t.seq, hash: "b".repeat(64) } })],
    ["lacks the archive", (t) => ({ ...defaultCheckpoint(t), archive: undefined })],
  ])("a checkpoint that %s does not account for the missing head: head removed", (_n, cp) => {
    const { kept } = prunedLog(6, 3, cp);
    const r = verify(kept, how);
    expect(r.ok).toBe(false);
    expect(r.firstBad?.seq).toBe(1);
    expect(r.problems.join("\n")).toContain("head removed");
  });

  it("head cut without any checkpoint: head removed (event 1 first bad)", () => {
    const { all } = prunedLog(6, 3);
    const r = verify(all.slice(2, 6), how);
    expect(r.ok).toBe(false);
    expect(r.firstBad).toEqual({ seq: 1, problem: expect.stringContaining("head removed") as unknown as string });
  });

  it("a full log with a checkpoint in it (the archive fed first) verifies from genesis", () => {
    const { all } = prunedLog(6, 3);
    expect(verify(all, how).ok).toBe(true);
  });

  it.each<[string, (all: AuditEvent[]) => { seq: number; hash: string }, boolean, string | null]>([
    ["the last retired event, which the first kept one links to", (all) => ({ seq: 3, hash: all[2]!.hash }), true, null],
    ["a kept event", (all) => ({ seq: 5, hash: all[4]!.hash }), true, null],
    ["a retired event", (all) => ({ seq: 2, hash: all[1]!.hash }), false, "--archive"],
    ["the last retired seq with another hash", () => ({ seq: 3, hash: "c".repeat(64) }), false, "--archive"],
  ])("an anchor at %s", (_n, anchorOf, ok, says) => {
    const { all, kept } = prunedLog(6, 3);
    const r = verify(kept, how, anchorOf(all));
    expect(r.ok).toBe(ok);
    if (says) expect(r.problems.join("\n")).toContain(says);
  });
});
