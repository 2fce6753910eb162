import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuditVerifier, GENESIS, auditHash, chainEvent, consumedNeverStarted, crossCheckConsumptions, type AuditReport } from "../../src/core/audit.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import type { AuditDraft, AuditEvent } from "../../src/core/types.js";

const T = "2026-01-05T10:00:00.000Z";
const actor = { principal: "alice", fingerprint: "SHA256:alice", user: "alice" };

function draft(n: number, type = "policy.error", data: Record<string, unknown> = { message: `m${n}` }): AuditDraft {
  return { type, actor, data };
}

/** A valid chain of n events (seq 1..n). */
function chain(n: number, drafts: (i: number) => AuditDraft = (i) => draft(i)): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) out.push(chainEvent(out[i - 1] ?? null, drafts(i), T));
  return out;
}

function verify(events: AuditEvent[], anchor?: { seq: number; hash: string }): AuditReport {
  const v = new AuditVerifier(anchor ? { anchor } : undefined);
  for (const e of events) v.push(e);
  return v.finish();
}

/** Re-hash an event after editing it, as a forger who knows the algorithm would. */
function rehash(e: AuditEvent): AuditEvent {
  const { hash: _old, ...body } = e;
  return { ...body, hash: auditHash(body) };
}

describe("auditHash and chainEvent", () => {
  it("the hash is sha256 of the canonical JSON of the six fields", () => {
    const [e] = chain(1);
    expect(e!.hash).toBe(sha256Hex(canonicalJson({ seq: 1, time: T, type: e!.type, actor: e!.actor, data: e!.data, prev: GENESIS })));
  });

  it("the first event links to the genesis hash, later ones to their predecessor", () => {
    const es = chain(3);
    expect(es.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(es[0]!.prev).toBe(GENESIS);
    expect(es[1]!.prev).toBe(es[0]!.hash);
    expect(es[2]!.prev).toBe(es[1]!.hash);
  });

  it("the event is exactly what a reader parses back (Dates, undefined members)", () => {
    const e = chainEvent(null, { type: "x", actor: { principal: null, fingerprint: null }, data: { at: new Date(0), gone: undefined, list: [1, "a"] } }, T);
    expect(e.data).toEqual({ at: "1970-01-01T00:00:00.000Z", list: [1, "a"] });
    const reread = JSON.parse(JSON.stringify(e)) as AuditEvent;
    expect(auditHash(reread)).toBe(e.hash);
    expect(verify([reread]).ok).toBe(true);
  });

  it("a draft with no JSON form is refused", () => {
    expect(() => chainEvent(null, { type: "x", actor, data: { n: 1n } }, T)).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => chainEvent(null, { type: "x", actor, data: cyclic }, T)).toThrow(TypeError);
  });

  it("fast path and canonical JSON agree on any JSON data, in any key order (property)", () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const data = fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("10", "2", "a", "B", "__proto__", "é", "0")), json, { maxKeys: 6 });
    fc.assert(
      fc.property(data, fc.integer({ min: 1, max: 1e9 }), fc.string(), (d, seq, type) => {
        const body = { seq, time: T, type, actor, data: d as Record<string, unknown>, prev: GENESIS };
        const expected = sha256Hex(canonicalJson(body));
        expect(auditHash(body)).toBe(expected);
        // …and after a JSON round trip, which is what a verifier sees.
        expect(auditHash(JSON.parse(JSON.stringify(body)) as typeof body)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe("AuditVerifier", () => {
  it("an intact chain verifies, with its head", () => {
    const es = chain(10);
    const r = verify(es);
    expect(r).toMatchObject({ ok: true, events: 10, head: { seq: 10, hash: es[9]!.hash }, problems: [] });
    expect(r.firstBad).toBeUndefined();
  });

  it("an empty log verifies without an anchor, with no head", () => {
    expect(verify([])).toMatchObject({ ok: true, events: 0, head: null });
  });

  type Case = { name: string; tamper: (es: AuditEvent[]) => AuditEvent[]; seq: number; problem: RegExp };
  const cases: Case[] = [
    {
      name: "S6: data of event 5 edited, hash left alone",
      tamper: (es) => es.map((e) => (e.seq === 5 ? { ...e, data: { message: "nothing to see" } } : e)),
      seq: 5,
      problem: /^event 5 was altered/,
    },
    {
      name: "S6: actor of event 5 edited",
      tamper: (es) => es.map((e) => (e.seq === 5 ? { ...e, actor: { ...e.actor, principal: "mallory" } } : e)),
      seq: 5,
      problem: /^event 5 was altered/,
    },
    {
      name: "S6: time of event 5 edited",
      tamper: (es) => es.map((e) => (e.seq === 5 ? { ...e, time: "2020-01-01T00:00:00.000Z" } : e)),
      seq: 5,
      problem: /^event 5 was altered/,
    },
    {
      name: "S6: event 5 edited and re-hashed by a forger",
      tamper: (es) => es.map((e) => (e.seq === 5 ? rehash({ ...e, data: { message: "forged" } }) : e)),
      seq: 5,
      problem: /^event 5 was altered or replaced/,
    },
    {
      name: "S6: the first event replaced with a re-hashed forgery",
      tamper: (es) => es.map((e) => (e.seq === 1 ? rehash({ ...e, type: "forged" }) : e)),
      seq: 1,
      problem: /^event 1 was altered or replaced/,
    },
    {
      name: "S6: the first event re-linked away from genesis",
      tamper: (es) => es.map((e) => (e.seq === 1 ? rehash({ ...e, prev: "f".repeat(64) }) : e)),
      seq: 1,
      problem: /genesis/,
    },
    { name: "S7: event 5 deleted", tamper: (es) => es.filter((e) => e.seq !== 5), seq: 5, problem: /^sequence gap: .*event 5 is missing/ },
    { name: "S7: events 4–6 deleted", tamper: (es) => es.filter((e) => e.seq < 4 || e.seq > 6), seq: 4, problem: /^sequence gap: .*events 4–6 are missing/ },
    { name: "S7: the first event deleted", tamper: (es) => es.slice(1), seq: 1, problem: /^sequence gap/ },
    { name: "S7: events 5 and 6 swapped", tamper: (es) => [...es.slice(0, 4), es[5]!, es[4]!, ...es.slice(6)], seq: 5, problem: /^out of order: event 5 appears after event 6/ },
    { name: "S7: event 5 duplicated", tamper: (es) => [...es.slice(0, 5), es[4]!, ...es.slice(5)], seq: 5, problem: /^out of order: event 5/ },
    { name: "S7: event 9 moved to the front", tamper: (es) => [es[8]!, ...es.slice(0, 8), es[9]!], seq: 1, problem: /sequence gap|out of order/ },
    {
      name: "a malformed event (seq not a number)",
      tamper: (es) => es.map((e) => (e.seq === 5 ? ({ ...e, seq: "5" } as unknown as AuditEvent) : e)),
      seq: 5,
      problem: /malformed/,
    },
    {
      name: "a malformed event (hash not hex)",
      tamper: (es) => es.map((e) => (e.seq === 3 ? { ...e, hash: "zz" } : e)),
      seq: 3,
      problem: /malformed: hash/,
    },
  ];

  for (const c of cases) {
    it(`${c.name} → first bad event ${c.seq}`, () => {
      const r = verify(c.tamper(chain(10)));
      expect(r.ok).toBe(false);
      expect(r.firstBad?.seq).toBe(c.seq);
      expect(r.firstBad?.problem).toMatch(c.problem);
      expect(r.problems.length).toBeGreaterThan(0);
    });
  }

  it("a problem is reported once, not again at every later event", () => {
    const es = chain(50).map((e) => (e.seq === 5 ? { ...e, data: { message: "x" } } : e));
    expect(verify(es).problems).toHaveLength(1);
  });

  it("a wrecked log reports a bounded number of problems", () => {
    const es = chain(500).map((e) => ({ ...e, data: { message: "all edited" } }));
    const r = verify(es);
    expect(r.problems.length).toBeLessThanOrEqual(101);
    expect(r.problems.at(-1)).toMatch(/more problems/);
    expect(r.firstBad?.seq).toBe(1);
  });

  describe("S7: anchors", () => {
    const es = chain(10);
    const anchor = { seq: 10, hash: es[9]!.hash };

    it("S7: a truncated tail is invisible to the chain alone", () => {
      expect(verify(es.slice(0, 8)).ok).toBe(true);
    });

    it("S7: a truncated tail is 'behind anchor' against an anchor", () => {
      const r = verify(es.slice(0, 8), anchor);
      expect(r.ok).toBe(false);
      expect(r.behindAnchor).toEqual({ anchorSeq: 10, headSeq: 8 });
      expect(r.problems.join("\n")).toMatch(/behind anchor: truncated/);
      expect(r.firstBad?.seq).toBe(9);
    });

    it("S7: a deleted (empty) log is behind the anchor", () => {
      const r = verify([], anchor);
      expect(r.ok).toBe(false);
      expect(r.behindAnchor).toEqual({ anchorSeq: 10, headSeq: 0 });
    });

    it("S7: a log rewritten consistently up to the anchor does not match it", () => {
      const forged = chain(10, (i) => draft(i, "policy.error", { message: `rewritten ${i}` }));
      const r = verify(forged, anchor);
      expect(r.ok).toBe(false);
      expect(r.problems.join("\n")).toMatch(/does not match the anchor/);
    });

    it("the full log, or a longer one, satisfies an older anchor", () => {
      expect(verify(es, anchor).ok).toBe(true);
      expect(verify(es, { seq: 4, hash: es[3]!.hash }).ok).toBe(true);
    });

    it("an anchored event missing from a log that goes past it is reported", () => {
      const r = verify(es.filter((e) => e.seq !== 4), { seq: 4, hash: es[3]!.hash });
      expect(r.ok).toBe(false);
      expect(r.problems.join("\n")).toMatch(/anchored event 4 is missing/);
    });
  });

  describe("runs and consumptions", () => {
    const run = (i: number): AuditDraft => {
      const steps: AuditDraft[] = [
        draft(0, "run.intent", { runId: "run-a", requestId: "r-aaaaaaaaaaaaaaaaaaaa", argv: ["x"] }),
        draft(1, "request.consumed", { requestId: "r-aaaaaaaaaaaaaaaaaaaa", runId: "run-a" }),
        draft(2, "run.started", { runId: "run-a", requestId: "r-aaaaaaaaaaaaaaaaaaaa", argv: ["x"] }),
        draft(3, "run.finished", { runId: "run-a", exitCode: 0, signal: null, durationMs: 5 }),
        draft(4, "run.started", { runId: "run-b", requestId: null, argv: ["./purge.sh", "--all"] }),
        draft(5, "run.started", { runId: "run-c", requestId: null, argv: ["y"] }),
        draft(6, "run.finished", { runId: "run-c", exitCode: 137, signal: "SIGKILL", durationMs: 5 }),
      ];
      return steps[i]!;
    };

    it("X2: a run.started with no run.finished is reported as interrupted, not as a failure", () => {
      const r = verify(chain(7, run));
      expect(r.ok).toBe(true);
      expect(r.interrupted).toEqual([{ runId: "run-b", seq: 5, argv: ["./purge.sh", "--all"] }]);
    });

    it("collects the requestIds of request.consumed and run.intent", () => {
      const r = verify(chain(7, run));
      expect([...r.consumedRequests]).toEqual(["r-aaaaaaaaaaaaaaaaaaaa"]);
      expect([...r.intendedRequests]).toEqual(["r-aaaaaaaaaaaaaaaaaaaa"]);
    });
  });
});

describe("crossCheckConsumptions", () => {
  const a = "r-aaaaaaaaaaaaaaaaaaaa";
  const b = "r-bbbbbbbbbbbbbbbbbbbb";
  const table: Array<{ name: string; audit: string[]; store: string[]; intended?: string[]; expect: RegExp[] }> = [
    { name: "both agree", audit: [a, b], store: [b, a], expect: [] },
    { name: "nothing consumed", audit: [], store: [], expect: [] },
    { name: "S3: consumption record deleted to replay", audit: [a, b], store: [a], expect: [new RegExp(`records request ${b} as consumed but the store has no consumption record`)] },
    { name: "a consumption the audit log does not know", audit: [], store: [a], expect: [new RegExp(`request ${a} is consumed in the store but the audit log has no request.consumed`)] },
    { name: "X2: a crash between consuming and auditing is not tampering", audit: [], store: [a], intended: [a], expect: [] },
  ];
  for (const t of table) {
    it(t.name, () => {
      const problems = crossCheckConsumptions(new Set(t.audit), new Set(t.store), t.intended ? new Set(t.intended) : undefined);
      expect(problems).toHaveLength(t.expect.length);
      t.expect.forEach((re, i) => expect(problems[i]).toMatch(re));
    });
  }
});

describe("consumedNeverStarted", () => {
  const a = "r-aaaaaaaaaaaaaaaaaaaa";
  const b = "r-bbbbbbbbbbbbbbbbbbbb";
  it("X2: names approvals consumed by runs that never started, and only those", () => {
    const report = { consumedRequests: new Set([a, b]), intendedRequests: new Set([a, b]), startedRequests: new Set([b]) };
    expect(consumedNeverStarted(new Set([a, b]), report)).toEqual([expect.stringMatching(new RegExp(`${a}: its approval was consumed but the run never started`))]);
    expect(consumedNeverStarted(new Set([a]), { consumedRequests: new Set(), intendedRequests: new Set([a]), startedRequests: new Set() })).toHaveLength(1);
    expect(consumedNeverStarted(new Set([b]), report)).toEqual([]);
  });
});
