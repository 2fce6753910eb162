/**
 * `guard audit verify` over a store a writer has had a go at, as a property: a genuine history (a request,
 * an approval, a run that consumed it, and a denied request, all made by guard's own commands with real
 * ssh-keygen keys), then one random edit of one record or one audit line — a value anywhere in its JSON
 * replaced by any JSON value (text with terminal escapes included), a key removed, a key added, or the
 * text itself cut or garbled. Whatever the edit, verify answers: a report, or — for an audit line that
 * is not an event at all, which it names — an integrity failure (65), never an internal error (70).
 * Nothing it reports carries a control character (the edge escapes a failure's message), and an edit of
 * anything guard signs, names by its content or chains is reported (`ok: false`). Consumption records are not signed: an edit of one that
 * keeps guard's shape and the request's digest is invisible to verify, so for them only the first two
 * hold unless the shape breaks.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveCommand, denyCommand } from "../../src/commands/approve.js";
import { requestCommand } from "../../src/commands/request.js";
import { runCommand } from "../../src/commands/run.js";
import { verifyStore } from "../../src/commands/audit.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { canonicalJson } from "../../src/core/canonical.js";
import { ExitCode, GuardError } from "../../src/core/errors.js";
import { validateConsumptionShape } from "../../src/core/request.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { makeProject, NOW, type Project } from "./project.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = ["./maintenance/purge-lb-state.sh", "--all"];

let p: Project;
let genuine: MemoryPlace;

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
  const bob = as("bob");
  expect(await exitCodeOf(bob, () => approveCommand(used, { yes: true }, bob)), bob.stderr()).toBe(0);
  const run = as("alice");
  expect(await exitCodeOf(run, () => runCommand(PURGE, { request: used, confirm: "production" }, run)), run.stderr()).toBe(0);
  const denied = await ask();
  const bob2 = as("bob");
  expect(await exitCodeOf(bob2, () => denyCommand(denied, { reason: "not now" }, bob2)), bob2.stderr()).toBe(0);
  const v = await verifyStore(openMemoryStore(genuine, { now: () => NOW }));
  expect(v.problems).toEqual([]);
  expect(v.ok).toBe(true);
}, 60_000);
afterAll(async () => p?.cleanup());

/** A copy of the genuine place: its records as text, its log as lines. */
function copy(): MemoryPlace {
  const place = new MemoryPlace();
  for (const [k, v] of genuine.requests) place.requests.set(k, v);
  for (const [k, m] of genuine.approvals) place.approvals.set(k, new Map(m));
  for (const [k, v] of genuine.consumptions) place.consumptions.set(k, v);
  for (const id of genuine.breakGlass) place.breakGlass.add(id);
  place.audit.push(...genuine.audit);
  return place;
}

type Kind = "request" | "approval" | "consumption" | "event";
/** Where a stored text sits, read and written back. */
interface Slot {
  kind: Kind;
  get(place: MemoryPlace): string;
  set(place: MemoryPlace, text: string): void;
}

function slots(): Slot[] {
  const out: Slot[] = [];
  for (const id of genuine.requests.keys()) out.push({ kind: "request", get: (pl) => pl.requests.get(id)!, set: (pl, t) => void pl.requests.set(id, t) });
  for (const [id, m] of genuine.approvals) {
    for (const name of m.keys()) out.push({ kind: "approval", get: (pl) => pl.approvals.get(id)!.get(name)!, set: (pl, t) => void pl.approvals.get(id)!.set(name, t) });
  }
  for (const id of genuine.consumptions.keys()) out.push({ kind: "consumption", get: (pl) => pl.consumptions.get(id)!, set: (pl, t) => void pl.consumptions.set(id, t) });
  genuine.audit.forEach((_, i) => out.push({ kind: "event", get: (pl) => pl.audit[i]!, set: (pl, t) => void (pl.audit[i] = t) }));
  return out;
}

/** Every path to a value in a JSON tree (the root included). */
function paths(v: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

type Edit =
  | { op: "replace"; pick: number; value: unknown }
  | { op: "remove"; pick: number }
  | { op: "add"; pick: number; key: string; value: unknown }
  | { op: "cut"; at: number }
  | { op: "garble"; at: number; text: string };

/** Text with what a hostile writer would put in it: escapes, workflow commands, bidi controls. */
const hostile = fc.oneof(fc.string(), fc.constantFrom("\u001b[2J", "\u001b]8;;https://evil\u0007x", "##[error]x", "\u202eabc", "r-aaaaaaaaaaaaaaaaaaaa", "\u0000", "\u009b31m"));
const json = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostile, fc.constant(null));

const edits: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant("replace" as const), pick: fc.nat(), value: json }),
  fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("add" as const), pick: fc.nat(), key: hostile, value: json }),
  fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("garble" as const), at: fc.nat(), text: hostile }),
);

function apply(text: string, e: Edit): string {
  if (e.op === "cut") return text.slice(0, e.at % text.length);
  if (e.op === "garble") {
    const at = e.at % text.length;
    return text.slice(0, at) + e.text + text.slice(at + 1);
  }
  const root = JSON.parse(text) as unknown;
  const all = paths(root);
  const path = all[e.pick % all.length]!;
  if (path.length === 0) {
    if (e.op === "replace") return JSON.stringify(e.value);
    if (e.op === "remove") return "";
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
function same(a: string, b: string): boolean {
  try {
    return canonicalJson(JSON.parse(a)) === canonicalJson(JSON.parse(b));
  } catch {
    return a === b;
  }
}

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
    const all = slots();
    expect(new Set(all.map((s) => s.kind))).toEqual(new Set(["request", "approval", "consumption", "event"]));
    await fc.assert(
      fc.asyncProperty(fc.nat(), edits, async (which, edit) => {
        const slot = all[which % all.length]!;
        const place = copy();
        const before = slot.get(place);
        const after = apply(before, edit);
        slot.set(place, after);
        let v: Awaited<ReturnType<typeof verifyStore>>;
        try {
          v = await verifyStore(openMemoryStore(place, { now: () => NOW }));
        } catch (e) {
          expect(e, `${slot.kind} edited: ${JSON.stringify(edit)}`).toBeInstanceOf(GuardError);
          expect((e as GuardError).exitCode).toBe(ExitCode.INTEGRITY);
          expect(slot.kind).toBe("event");
          return;
        }
        for (const line of [...v.problems, ...v.leftovers, ...v.neverStarted, ...v.report.interrupted.map((r) => r.runId)]) {
          expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        }
        if (same(before, after)) return;
        if (slot.kind === "consumption" && keepsConsumptionShape(after)) return;
        expect(v.ok, `${slot.kind} edited: ${JSON.stringify(edit)}`).toBe(false);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
