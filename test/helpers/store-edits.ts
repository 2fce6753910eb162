/**
 * What a store writer can do to a memory store's place, one edit at a time, for properties over guard's
 * readers (test/commands/verify-hostile.test.ts, run-hostile.test.ts): every stored text (request,
 * approval, consumption record, audit line) as a slot to read, write back or remove, and random edits of
 * a text — a value anywhere in its JSON replaced by any JSON value (text with terminal escapes and
 * workflow commands included), a key removed, a key added, or the text itself cut or garbled — or the
 * removal of the whole record or line.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { ExitCode } from "../../src/core/errors.js";
import { MemoryPlace } from "../../src/adapters/store/memory.js";
import { canonicalJson } from "../../src/core/canonical.js";

/** A copy of a place: its records as text, its log as lines. */
export function copyPlace(from: MemoryPlace): MemoryPlace {
  const place = new MemoryPlace();
  for (const [k, v] of from.requests) place.requests.set(k, v);
  for (const [k, m] of from.approvals) place.approvals.set(k, new Map(m));
  for (const [k, v] of from.consumptions) place.consumptions.set(k, v);
  for (const id of from.breakGlass) place.breakGlass.add(id);
  place.audit.push(...from.audit);
  return place;
}

export type SlotKind = "request" | "approval" | "consumption" | "event";

/** Where a stored text sits (the same place in any copy of `from`), read and written back. */
export interface Slot {
  kind: SlotKind;
  /** The request the record belongs to (null for an audit line). */
  requestId: string | null;
  get(place: MemoryPlace): string;
  set(place: MemoryPlace, text: string): void;
  remove(place: MemoryPlace): void;
}

export function slotsOf(from: MemoryPlace): Slot[] {
  const out: Slot[] = [];
  for (const id of from.requests.keys()) {
    out.push({ kind: "request", requestId: id, get: (pl) => pl.requests.get(id)!, set: (pl, t) => void pl.requests.set(id, t), remove: (pl) => void pl.requests.delete(id) });
  }
  for (const [id, m] of from.approvals) {
    for (const name of m.keys()) {
      out.push({ kind: "approval", requestId: id, get: (pl) => pl.approvals.get(id)!.get(name)!, set: (pl, t) => void pl.approvals.get(id)!.set(name, t), remove: (pl) => void pl.approvals.get(id)!.delete(name) });
    }
  }
  for (const id of from.consumptions.keys()) {
    out.push({ kind: "consumption", requestId: id, get: (pl) => pl.consumptions.get(id)!, set: (pl, t) => void pl.consumptions.set(id, t), remove: (pl) => void pl.consumptions.delete(id) });
  }
  from.audit.forEach((_, i) => out.push({ kind: "event", requestId: null, get: (pl) => pl.audit[i]!, set: (pl, t) => void (pl.audit[i] = t), remove: (pl) => void pl.audit.splice(i, 1) }));
  return out;
}

/**
 * The slot `which` picks: a kind of record first, then one of that kind, so that the few request,
 * approval and consumption records are edited as often as the many audit lines.
 */
function pickSlot(all: readonly Slot[], which: number): Slot {
  const kinds = [...new Set(all.map((s) => s.kind))];
  const mine = all.filter((s) => s.kind === kinds[which % kinds.length]);
  return mine[Math.floor(which / kinds.length) % mine.length]!;
}

export type Edit =
  | { op: "replace"; pick: number; value: unknown }
  | { op: "remove"; pick: number }
  | { op: "add"; pick: number; key: string; value: unknown }
  | { op: "cut"; at: number }
  | { op: "garble"; at: number; text: string }
  | { op: "delete" };

/** Text with what a hostile writer would put in it: escapes, workflow commands, bidi controls, an id. */
const hostile = fc.oneof(fc.string(), fc.constantFrom("\u001b[2J", "\u001b]8;;https://evil\u0007x", "##[error]x", "\u202eabc", "r-aaaaaaaaaaaaaaaaaaaa", "\u0000", "\u009b31m"));
const json = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostile, fc.constant(null));

export const edits: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant("replace" as const), pick: fc.nat(), value: json }),
  fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("add" as const), pick: fc.nat(), key: hostile, value: json }),
  fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("garble" as const), at: fc.nat(), text: hostile }),
  fc.constant({ op: "delete" as const }),
);

/** Every path to a value in a JSON tree (the root included). */
function paths(v: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

/**
 * One case of a property: a fresh copy of `genuine` with `edit` made at the slot `which` picks (pickSlot),
 * and how to name it in a failure.
 */
export function editedCopy(genuine: MemoryPlace, all: readonly Slot[], which: number, edit: Edit): { place: MemoryPlace; slot: Slot; after: string | null; changed: boolean; what: string } {
  const slot = pickSlot(all, which);
  const place = copyPlace(genuine);
  const { after, changed } = editSlot(place, slot, edit);
  return { place, slot, after, changed, what: `${slot.kind} of ${slot.requestId ?? "the log"} edited: ${JSON.stringify(edit)}` };
}

/**
 * Makes the edit at the slot of `place`: the text before, and after (null: the record or line was
 * removed, or the edit left the same JSON and nothing was changed).
 */
function editSlot(place: MemoryPlace, slot: Slot, e: Edit): { before: string; after: string | null; changed: boolean } {
  const before = slot.get(place);
  if (e.op === "delete") {
    slot.remove(place);
    return { before, after: null, changed: true };
  }
  const after = editText(before, e);
  if (sameJson(before, after)) return { before, after, changed: false };
  slot.set(place, after);
  return { before, after, changed: true };
}

/**
 * `text` (a stored record, line or index entry) after the edit. An edit of JSON made to text that is
 * not JSON (an index entry) puts the value's JSON text in at that place instead.
 */
export function editText(text: string, e: Exclude<Edit, { op: "delete" }>): string {
  if (e.op === "cut") return text.slice(0, e.at % Math.max(1, text.length));
  if (e.op === "garble") {
    const at = e.at % Math.max(1, text.length);
    return text.slice(0, at) + e.text + text.slice(at + 1);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    const value = e.op === "remove" ? "" : (JSON.stringify(e.value) ?? "");
    return editText(text, { op: "garble", at: e.pick, text: value });
  }
  const all = paths(root);
  const path = all[e.pick % all.length]!;
  if (path.length === 0) {
    if (e.op === "replace") return JSON.stringify(e.value);
    if (e.op === "remove") return "";
    if (typeof root !== "object" || root === null) return JSON.stringify({ [e.key]: e.value });
  }
  const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], root) as Record<string | number, unknown>;
  const last = path.at(-1)!;
  const target = path.length === 0 ? root : parent[last];
  if (e.op === "replace") parent[last] = e.value;
  else if (e.op === "remove") {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (typeof target === "object" && target !== null && !Array.isArray(target)) (target as Record<string, unknown>)[e.key] = e.value;
  else if (Array.isArray(target)) target.push(e.value);
  else parent[last] = { [e.key]: e.value };
  return JSON.stringify(root);
}

/** The same JSON, whatever the spacing and key order (or the same text, for what is not JSON). */
function sameJson(a: string, b: string): boolean {
  try {
    return canonicalJson(JSON.parse(a)) === canonicalJson(JSON.parse(b));
  } catch {
    return a === b;
  }
}

/** A control character, C1 code or bidi control: what must never reach a terminal raw. */
export const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/**
 * What every command must do over an edited store: answer with a documented exit code, never an internal
 * error (70), and print nothing raw on stdout or stderr. Returns the exit code.
 */
export function expectAnswered(r: { code: number; stdout: string; stderr: string }, what: string): number {
  expect(r.code, `${what}: ${r.stderr}`).not.toBe(ExitCode.INTERNAL);
  expect(r.stdout, what).not.toMatch(RAW_CONTROL);
  expect(r.stderr, what).not.toMatch(RAW_CONTROL);
  return r.code;
}
