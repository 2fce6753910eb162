/**
 * `guard audit verify` in process, as a table over audit logs a store writer could leave: the exit code
 * (through the runtime), the JSON report, and that the hostile text in a damaged line never reaches the
 * terminal raw. The memory store holds the log as canonical lines, the way the file store does.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditVerifyCommand, verifyProgressText, verifyStore, VerifyProgress } from "../../src/commands/audit.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { makeDraft, makeRequest, newId } from "../store/fixtures.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { makeProject, NOW, type Project } from "./project.js";

let p: Project;
beforeAll(async () => {
  p = await makeProject();
}, 30_000);
afterAll(async () => p?.cleanup());

/** A log of five genuine events, then `damage` applied to its lines. */
async function log(damage: (lines: string[]) => void): Promise<MemoryPlace> {
  const place = new MemoryPlace();
  const store = openMemoryStore(place, { now: () => NOW });
  for (let i = 0; i < 5; i++) await store.appendAudit(makeDraft(i));
  damage(place.audit);
  return place;
}

const edit = (i: number, f: (e: Record<string, unknown>) => void) => (lines: string[]) => {
  const e = JSON.parse(lines[i]!) as Record<string, unknown>;
  f(e);
  lines[i] = JSON.stringify(e);
};

const rows: Array<{ name: string; damage: (lines: string[]) => void; code: number; firstBad: number | null }> = [
  { name: "untouched", damage: () => undefined, code: 0, firstBad: null },
  { name: "an event's data edited", damage: edit(2, (e) => ((e.data as Record<string, unknown>).edited = "\u001b[2Jyes")), code: 65, firstBad: 3 },
  { name: "an event removed from the middle (the gap is where seq 2 should be)", damage: (l) => void l.splice(1, 1), code: 65, firstBad: 2 },
  { name: "two events swapped", damage: (l) => void l.splice(1, 2, l[2]!, l[1]!), code: 65, firstBad: 2 },
  { name: "the first event no longer links to the start of the chain", damage: edit(0, (e) => (e.prev = "f".repeat(64))), code: 65, firstBad: 1 },
];

describe("guard audit verify, in process", () => {
  it.each(rows)("$name → exit $code", async ({ damage, code, firstBad }) => {
    const place = await log(damage);
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => auditVerifyCommand({ json: true }, rt)), rt.stderr()).toBe(code);
    const out = JSON.parse(rt.stdout()) as { ok: boolean; firstBad: { seq: number } | null; problems: string[] };
    expect(out.ok).toBe(code === 0);
    expect(out.firstBad?.seq ?? null).toBe(firstBad);
    if (code !== 0) expect(rt.stderr()).toContain("integrity failure");
  });

  it.each([
    ["junk with a terminal escape", "not json \u001b[2J\u001b]8;;https://evil\u0007"],
    ["a JSON line that is not an event", '{"seq":"##[error]x"}'],
  ])("a line that is %s: 65, and nothing raw on the terminal", async (_n, line) => {
    const place = await log((l) => void l.splice(2, 0, line));
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => auditVerifyCommand({}, rt))).toBe(65);
    for (const text of [rt.stdout(), rt.stderr()]) {
      expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
      expect(text).not.toContain("##[");
    }
  });

  it("--anchor: a log that no longer holds the recorded head is refused", async () => {
    const place = await log(() => undefined);
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => auditVerifyCommand({ json: true, anchor: `3:${"a".repeat(64)}` }, rt))).toBe(65);
    expect((JSON.parse(rt.stdout()) as { ok: boolean }).ok).toBe(false);
  });
});

describe("guard audit verify's progress line", () => {
  it.each([
    [{ events: 0, records: 0 }, "guard: verifying: 0 events chained, 0 records read"],
    [{ events: 1, records: 1 }, "guard: verifying: 1 event chained, 1 record read"],
    [{ events: 1_234_567, records: 100_000 }, "guard: verifying: 1,234,567 events chained, 100,000 records read"],
  ])("%o → %s", (p, text) => {
    expect(verifyProgressText(p)).toBe(text);
  });

  it("verifyStore fills it in: every event taken into the chain, every record read", async () => {
    const place = await log(() => undefined);
    const store = openMemoryStore(place, { now: () => NOW });
    for (let i = 0; i < 3; i++) await store.putRequest(makeRequest(newId(), new Date(NOW - i * 60_000)));
    const progress = new VerifyProgress();
    expect(progress.events).toBe(0);
    const v = await verifyStore(store, { progress });
    expect(v.report.events).toBe(5);
    expect(progress.events).toBe(5);
    expect(progress.records).toBe(3);
  });

  it("at a terminal, a quick check draws nothing: the line waits a second before it is first drawn", async () => {
    const place = await log(() => undefined);
    const rt = p.runtime({ place });
    rt.terminal.stderr().isTTY = true;
    expect(await exitCodeOf(rt, () => auditVerifyCommand({}, rt))).toBe(0);
    expect(rt.stdout()).toContain("audit log verifies");
    expect(rt.stderr()).toBe("");
  });
});
