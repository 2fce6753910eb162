import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuditVerifier, auditShapeProblem, chainEvent, GENESIS, type AuditReport } from "../../src/core/audit.js";
import { checkCanonicalLine, newCanonicalLine, scanCanonicalLine } from "../../src/core/audit-line.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import type { AuditDraft, AuditEvent } from "../../src/core/types.js";

/**
 * The verifier's fast path (pushLine over raw canonical lines) against its full path (parse, then push):
 * whatever a line holds, both must reach the same report, or fail on the same line. The fast path may
 * only ever take a line that is exactly canonicalJson(JSON.parse(line)).
 */

const T = "2026-01-05T10:00:00.000Z";
const actor = { principal: "alice", fingerprint: "SHA256:alice", user: "alice" };

/** What a store does with a line the fast path declines: parse it, refuse what is not an event. */
function parseLine(text: string, n: number): AuditEvent {
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch {
    throw new Error(`line ${n}: not JSON`);
  }
  const problem = auditShapeProblem(e);
  if (problem !== null) throw new Error(`line ${n}: ${problem}`);
  return e as AuditEvent;
}

type Outcome = { report: Omit<AuditReport, "consumedRequests" | "intendedRequests"> & { consumed: string[]; intended: string[] } } | { error: string };

function outcome(run: () => AuditReport): Outcome {
  try {
    const { consumedRequests, intendedRequests, ...rest } = run();
    return { report: { ...rest, consumed: [...consumedRequests].sort(), intended: [...intendedRequests].sort() } };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** The full path only. */
function slow(lines: Buffer[], anchor?: { seq: number; hash: string }): Outcome {
  return outcome(() => {
    const v = new AuditVerifier(anchor ? { anchor } : undefined);
    lines.forEach((b, i) => v.push(parseLine(b.toString("utf8"), i + 1)));
    return v.finish();
  });
}

/** As the stores feed it: the fast path first, the full path when it declines. Also counts the fast lines. */
function fast(lines: Buffer[], anchor?: { seq: number; hash: string }): Outcome & { taken: number } {
  let taken = 0;
  const o = outcome(() => {
    const v = new AuditVerifier(anchor ? { anchor } : undefined);
    lines.forEach((b, i) => {
      // Surrounded by other bytes, as a line is inside a store's read buffer.
      const framed = Buffer.concat([Buffer.from('{"x":1}\n'), b, Buffer.from('\n}"}')]);
      if (v.pushLine(framed, 8, 8 + b.length)) taken++;
      else v.push(parseLine(b.toString("utf8"), i + 1));
    });
    return v.finish();
  });
  return { ...o, taken };
}

function chainOf(drafts: AuditDraft[]): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const d of drafts) out.push(chainEvent(out.at(-1) ?? null, d, T));
  return out;
}

const linesOf = (events: AuditEvent[]): Buffer[] => events.map((e) => Buffer.from(canonicalJson(e)));

/** A forger's re-hash over the line's raw text (not its canonical form): the fast path must not be fooled. */
function rawRehash(line: string): string {
  const at = line.lastIndexOf(',"hash":"') + 1;
  if (at === 0 || line.length < at + 74) return line;
  const hash = sha256Hex(line.slice(0, at) + line.slice(at + 74));
  return line.slice(0, at + 8) + hash + line.slice(at + 72);
}

/**
 * The scanner's verdict as the verifier uses it: the 64 characters of hash and prev are left to the
 * verifier, which compares them with hex digests, so a line counts as accepted only when they are hex.
 */
function scans(line: string | Buffer): boolean {
  const b = typeof line === "string" ? Buffer.from(line) : line;
  const l = newCanonicalLine();
  if (!scanCanonicalLine(b, 0, b.length, l)) return false;
  const hex = (at: number) => /^[0-9a-f]{64}$/.test(b.toString("latin1", at, at + 64));
  return hex(l.memberAt + 8) && hex(l.prevAt);
}

// --- generators ---------------------------------------------------------------------------------

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }), // lone surrogates, astral characters
  fc.constantFrom("", '"', "\\", "\n\t\r\b\f", "\u0000\u001f\u007f", "é", "😀", "\u2028", "run-a", "r-aaaaaaaaaaaaaaaaaaaa"),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(null, true, false),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.constantFrom(0, -0, 1.5, 1e21, 2 ** 53, -(2 ** 53) + 1, 123456789012345, 1234567890123456, 0.1),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    anyString,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(anyString, fc.constantFrom("10", "2", "__proto__", "runId", "é", "😀", "\uffff")), tie("value"), { maxKeys: 4 }),
  ),
})).value;

const idValue = fc.oneof(fc.constantFrom("run-a", "run-b", "r-aaaaaaaaaaaaaaaaaaaa", "r-bbbbbbbbbbbbbbbbbbbb"), anyString, fc.integer(), fc.constant(null));
const draft: fc.Arbitrary<AuditDraft> = fc.record({
  type: fc.oneof(fc.constantFrom("run.started", "run.finished", "request.consumed", "run.intent", "policy.error"), anyString),
  actor: fc.record({ principal: fc.option(anyString), fingerprint: fc.option(anyString), user: anyString }, { requiredKeys: ["principal", "fingerprint"] }),
  data: fc.record({ runId: idValue, requestId: idValue, argv: json, more: json }, { requiredKeys: [] }),
}) as fc.Arbitrary<AuditDraft>;

// --- properties ---------------------------------------------------------------------------------

describe("the fast path agrees with the full path", () => {
  it("on chains of arbitrary events (property)", () => {
    let lines = 0;
    let taken = 0;
    fc.assert(
      fc.property(fc.array(draft, { minLength: 1, maxLength: 12 }), (drafts) => {
        const ls = linesOf(chainOf(drafts));
        const f = fast(ls);
        expect("report" in f && f.report.ok).toBe(true);
        const { taken: n, ...got } = f;
        expect(got).toEqual(slow(ls));
        lines += ls.length;
        taken += n;
      }),
      { numRuns: 300 },
    );
    // Not vacuous: many generated lines are plain enough for the fast path (about 40%; floats, long
    // integers, escaped lone surrogates and deep nesting send the others down the full path).
    expect(taken).toBeGreaterThan(lines / 5);
  });

  it("S6: on chains with a line edited anywhere, re-hashed or not (property)", () => {
    const edit = fc.record({
      at: fc.nat(),
      cut: fc.nat({ max: 3 }),
      insert: fc.oneof(anyString, fc.constantFrom(" ", "\\", '"', ",", "}", "]", '"hash":"', "1", ".0", "e1", "-", "\\u0041", "\\/", "\t")),
      rehash: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(draft, { minLength: 1, maxLength: 6 }), fc.nat(), edit, (drafts, which, { at, cut, insert, rehash }) => {
        const events = chainOf(drafts);
        const texts = events.map((e) => canonicalJson(e));
        const i = which % texts.length;
        const t = texts[i]!;
        const p = at % (t.length + 1);
        const edited = t.slice(0, p) + insert + t.slice(p + cut);
        texts[i] = rehash ? rawRehash(edited) : edited;
        const lines = texts.map((x) => Buffer.from(x));
        const { taken: _, ...got } = fast(lines);
        expect(got).toEqual(slow(lines));
        // (As bytes: a lone surrogate left by the edit is encoded as U+FFFD, as a store would write it.)
        const stored = lines[i]!.toString("utf8");
        if (scans(lines[i]!)) expect(canonicalJson(JSON.parse(stored))).toBe(stored);
      }),
      { numRuns: 1500 },
    );
  });

  it("on lines with arbitrary bytes edited in, invalid UTF-8 included (property)", () => {
    fc.assert(
      fc.property(fc.array(draft, { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 }), (drafts, which, at, bytes) => {
        const lines = linesOf(chainOf(drafts));
        const i = which % lines.length;
        const l = lines[i]!;
        const p = at % (l.length + 1);
        lines[i] = Buffer.concat([l.subarray(0, p), bytes, l.subarray(p)]);
        const { taken: _, ...got } = fast(lines);
        expect(got).toEqual(slow(lines));
      }),
      { numRuns: 500 },
    );
  });

  it("whatever the scanner accepts is exactly canonicalJson(JSON.parse(line)) (property)", () => {
    const raw = fc.oneof(
      json.map((v) => JSON.stringify(v) ?? "null"),
      json.map((v) => JSON.stringify(v, null, 1) ?? "null"),
      fc.string({ unit: fc.constantFrom(..."{}[]\",:0123456789-.eE tfnrula\\/ \u00e9") }),
    );
    fc.assert(
      fc.property(raw, raw, (a, d) => {
        const line = Buffer.from(rawRehash(`{"actor":${a},"data":${d},"hash":"${"0".repeat(64)}","prev":"${GENESIS}","seq":1,"time":"${T}","type":"x"}`)).toString();
        if (scans(line)) {
          expect(canonicalJson(JSON.parse(line))).toBe(line);
          expect(fast([Buffer.from(line)]).taken).toBe(1);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// --- tables ---------------------------------------------------------------------------------------

describe("scanCanonicalLine", () => {
  const data = { argv: ["./purge.sh", "--all"], n: -12, nested: { a: [true, false, null, {}], b: [] }, runId: "run-a" };
  const good = canonicalJson(chainEvent(null, { type: "run.started", actor, data }, T));

  const accepted: Array<[string, Record<string, unknown>]> = [
    ["plain ASCII", data],
    ["escapes JSON.stringify writes", { s: 'q"b\\n\n\t\r\b\f\u0001\u001f\u007f' }],
    ["non-ASCII text, an astral character, U+2028", { s: "héllo 😀 \u2028 \uffff" }],
    ["integers up to 15 digits", { a: 123456789012345, b: -999999999999999, c: 0 }],
    ["empty containers", { a: {}, b: [], c: "" }],
    ["integer-like keys, sorted as strings", { "10": 1, "2": 2, a: 3 }],
  ];
  for (const [name, d] of accepted) {
    it(`accepts a canonical line: ${name}`, () => {
      const line = canonicalJson(chainEvent(null, { type: "x", actor, data: d }, T));
      expect(scans(line)).toBe(true);
      expect(fast([Buffer.from(line)]).taken).toBe(1);
    });
  }

  // Each is re-hashed over its raw text, so only the scanner stands between it and the fast path.
  const declined: Array<[string, (l: string) => string | Buffer]> = [
    ["whitespace between tokens", (l) => l.replace('"n":-12', '"n": -12')],
    ["keys out of order", (l) => l.replace('"argv":["./purge.sh","--all"],"n":-12', '"n":-12,"argv":["./purge.sh","--all"]')],
    ["a duplicate key", (l) => l.replace('"n":-12', '"n":-12,"n":-13')],
    ["a needless \\u escape", (l) => l.replace("purge", "\\u0070urge")],
    ["an escaped slash", (l) => l.replace("./purge", ".\\/purge")],
    ["\\u000a for a newline", (l) => l.replace("--all", "--all\\u000a")],
    ["uppercase hex in \\u001F", (l) => l.replace("--all", "--all\\u001F")],
    ["an escaped lone surrogate", (l) => l.replace("--all", "--all\\ud800")],
    ["a raw tab in a string", (l) => l.replace("--all", "--\tall")],
    ["a fraction", (l) => l.replace("-12", "-12.0")],
    ["an exponent", (l) => l.replace("-12", "-1e1")],
    ["minus zero", (l) => l.replace("-12", "-0")],
    ["a leading zero", (l) => l.replace("-12", "-012")],
    ["a 16-digit integer", (l) => l.replace("-12", "1234567890123456")],
    ["a non-ASCII key", (l) => l.replace('"n":', '"é":')],
    ["an extra top-level member", (l) => l.replace('"prev":', '"extra":1,"prev":')],
    ["top-level members out of order", (l) => l.replace(/^\{"actor":(\{[^}]*\}),"data":/, '{"data":{},"actor":$1,"ignored":')],
    ["trailing garbage", (l) => `${l} `],
    ["a missing closing brace", (l) => l.slice(0, -1)],
    ["a seq with a leading zero", (l) => l.replace('"seq":1,', '"seq":01,')],
    ["a seq beyond 2^53", (l) => l.replace('"seq":1,', '"seq":9007199254740993,')],
    ["an invalid UTF-8 byte", (l) => Buffer.concat([Buffer.from(l.slice(0, 30)), Buffer.from([0xff]), Buffer.from(l.slice(30))])],
    ["an overlong UTF-8 encoding", (l) => Buffer.concat([Buffer.from(l.slice(0, 30)), Buffer.from([0xc1, 0x81]), Buffer.from(l.slice(30))])],
    ["nesting deeper than the scanner follows", (l) => l.replace('"b":[]', `"b":${"[".repeat(40)}${"]".repeat(40)}`)],
  ];
  for (const [name, mutate] of declined) {
    it(`declines ${name}, and both paths agree on the line`, () => {
      const m = mutate(good);
      const line = typeof m === "string" ? rawRehash(m) : m;
      expect(line.toString()).not.toBe(good);
      expect(scans(line)).toBe(false);
      const lines = [typeof line === "string" ? Buffer.from(line) : line];
      const { taken, ...got } = fast(lines);
      expect(taken).toBe(0);
      expect(got).toEqual(slow(lines));
    });
  }

  it("a line in the middle of a buffer is read within its bounds only", () => {
    const b = Buffer.from(`${good}\n${good}`);
    expect(scanCanonicalLine(b, 0, good.length, newCanonicalLine())).toBe(true);
    expect(scanCanonicalLine(b, 0, good.length - 1, newCanonicalLine())).toBe(false);
    expect(scanCanonicalLine(b, good.length + 1, b.length, newCanonicalLine())).toBe(true);
  });

  it("finds the members the verifier reads", () => {
    const b = Buffer.from(good);
    const l = newCanonicalLine();
    expect(scanCanonicalLine(b, 0, b.length, l)).toBe(true);
    const e = JSON.parse(good) as AuditEvent;
    const text = (from: number, to: number) => b.toString("utf8", from, to);
    expect(text(l.memberAt, l.memberAt + 74)).toBe(`"hash":"${e.hash}",`);
    expect(text(l.prevAt, l.prevAt + 64)).toBe(e.prev);
    expect(l.seq).toBe(1);
    expect(text(l.typeStart, l.typeEnd)).toBe("run.started");
    expect(text(l.runIdStart, l.runIdEnd)).toBe("run-a");
    expect(l.requestIdStart).toBe(-1);
    expect(JSON.parse(text(l.argvStart, l.argvEnd))).toEqual(data.argv);
  });
});

describe("pushLine", () => {
  const drafts: AuditDraft[] = [
    { type: "run.intent", actor, data: { runId: "run-a", requestId: "r-aaaaaaaaaaaaaaaaaaaa", argv: ["x"] } },
    { type: "request.consumed", actor, data: { requestId: "r-aaaaaaaaaaaaaaaaaaaa", runId: "run-a" } },
    { type: "run.started", actor, data: { runId: "run-a", requestId: "r-aaaaaaaaaaaaaaaaaaaa", argv: ["x"] } },
    { type: "run.started", actor, data: { runId: "run-\"b\"", requestId: null, argv: ["./purge.sh", "--all", { odd: "é\n" }] } },
    { type: "run.finished", actor, data: { runId: "run-a", exitCode: 0, signal: null, durationMs: 5 } },
    { type: "run.started", actor, data: { runId: "run-c" } },
  ];

  it("X2: takes every line of an intact log and reports runs and consumptions as push() does", () => {
    const lines = linesOf(chainOf(drafts));
    const f = fast(lines);
    expect(f.taken).toBe(drafts.length);
    expect("report" in f && f.report).toMatchObject({
      ok: true,
      interrupted: [
        { runId: 'run-"b"', seq: 4, argv: ["./purge.sh", "--all", { odd: "é\n" }] },
        { runId: "run-c", seq: 6 },
      ],
      consumed: ["r-aaaaaaaaaaaaaaaaaaaa"],
      intended: ["r-aaaaaaaaaaaaaaaaaaaa"],
    });
    const { taken: _, ...got } = f;
    expect(got).toEqual(slow(lines));
  });

  it("declines, recording nothing, a line that does not extend the chain (gap, reorder, broken link, bad hash)", () => {
    const events = chainOf(drafts);
    const line = (e: AuditEvent) => Buffer.from(canonicalJson(e));
    const v = new AuditVerifier();
    const l2 = line(events[1]!);
    expect(v.pushLine(l2, 0, l2.length)).toBe(false); // seq 2 before seq 1
    const l1 = line(events[0]!);
    expect(v.pushLine(l1, 0, l1.length)).toBe(true);
    const relinked = line({ ...events[1]!, prev: "f".repeat(64) });
    expect(v.pushLine(relinked, 0, relinked.length)).toBe(false);
    const badHash = line({ ...events[1]!, hash: "0".repeat(64) });
    expect(v.pushLine(badHash, 0, badHash.length)).toBe(false);
    expect(v.finish()).toMatchObject({ ok: true, events: 1, head: { seq: 1, hash: events[0]!.hash } });
  });

  it("after a line with a non-hex hash went the full path, the next line goes that way too", () => {
    const events = chainOf(drafts.slice(0, 2));
    const odd = "Z".repeat(64);
    const first = { ...events[0]!, hash: odd };
    const second = { ...events[1]!, prev: odd };
    second.hash = sha256Hex(canonicalJson({ seq: 2, time: T, type: second.type, actor: second.actor, data: second.data, prev: odd }));
    const lines = [first, second].map((e) => Buffer.from(canonicalJson(e)));
    const f = fast(lines);
    expect(f.taken).toBe(0);
    const { taken: _, ...got } = f;
    expect(got).toEqual(slow(lines));
  });

  it("pushChecked (a line checked elsewhere) never links to a head that is not hex, nor to a stale one", () => {
    const events = chainOf(drafts.slice(0, 3));
    const v = new AuditVerifier();
    const l1 = Buffer.from(canonicalJson(events[0]!));
    expect(v.pushLine(l1, 0, l1.length)).toBe(true);
    // Event 2 arrives by the full path with a hash that is not hex: it becomes the head, unchecked.
    v.push({ ...events[1]!, hash: "Z".repeat(64) });
    // Event 3, forged to link to event 1's hash: checked on its own it is fine, but it must not chain.
    const forged = chainEvent({ seq: 2, hash: events[0]!.hash }, drafts[2]!, T);
    const b = Buffer.from(canonicalJson(forged));
    const line = newCanonicalLine();
    expect(checkCanonicalLine(b, 0, b.length, line)).toBe(true);
    expect(v.pushChecked(b, line)).toBe(false);
    expect(v.headHash).toBe("Z".repeat(64));
  });

  it("S7: checks the anchor on lines it takes", () => {
    const events = chainOf(drafts);
    const lines = linesOf(events);
    expect(fast(lines, { seq: 3, hash: events[2]!.hash })).toMatchObject({ report: { ok: true }, taken: 6 });
    const wrong = fast(lines, { seq: 3, hash: "a".repeat(64) });
    expect(wrong).toMatchObject({ report: { ok: false, firstBad: { seq: 3 } }, taken: 6 });
    const { taken: _, ...got } = wrong;
    expect(got).toEqual(slow(lines, { seq: 3, hash: "a".repeat(64) }));
  });
});

describe("an event's members", () => {
  it("a member beside the seven (which the hash does not cover) makes a line no event, on both paths", () => {
    const events = chainOf([0, 1, 2].map((i) => ({ type: "run.started", actor, data: { runId: `run-${i}`, argv: ["x"] } })));
    // Its hash still matches: the hash covers seq, time, type, actor, data and prev only.
    const planted = { ...events[1]!, note: "approved by carol" };
    for (const line of [canonicalJson(planted), JSON.stringify(planted)]) {
      const lines = [linesOf(events)[0]!, Buffer.from(line), linesOf(events)[2]!];
      expect(slow(lines)).toEqual({ error: "line 2: it has a member other than seq, time, type, actor, data, prev and hash" });
      expect(fast(lines)).toEqual({ error: "line 2: it has a member other than seq, time, type, actor, data, prev and hash", taken: 1 });
    }
    expect(auditShapeProblem(events[1])).toBeNull();
  });
});
