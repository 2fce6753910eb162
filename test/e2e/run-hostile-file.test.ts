/**
 * The file store edited by its writer never makes a run happen, as a property (the memory store's is
 * test/commands/run-hostile.test.ts). A genuine history made by guard's whole command line (in process,
 * guardIn) with real ssh-keygen keys — a request approved and run (consumed), one never approved, one
 * denied, one approved and not yet run — then one random edit of the store directory as its writer can
 * make it: any file (records, index entries, the seek index, markers) or any line of the audit log
 * edited (test/helpers/store-edits.ts), cut, garbled or removed, or an index entry planted under any
 * name in any of the store's directories. Whatever the edit:
 *
 * - `guard run --request` of the consumed, the unapproved and the denied request never runs the command;
 * - the approved one may run or be refused, and `guard show`, `guard requests --all` and
 *   `guard audit verify` answer, all with documented codes — never an internal error (70);
 * - nothing any of them prints carries a control character.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, lstatSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { makeWorld, type World } from "./world.js";
import { fourRequests, PROD, type HistoryIds } from "../helpers/hostile-history.js";
import { guardIn } from "../helpers/in-process.js";
import { editText, edits, expectAnswered, type Edit } from "../helpers/store-edits.js";


let w: World;
let snapshot: string;
let ids: HistoryIds;

/** Every file of a store directory, relative to it. */
function filesOf(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (lstatSync(path).isDirectory()) out.push(...filesOf(root, path));
    else out.push(relative(root, path));
  }
  return out.sort();
}

function dirsOf(root: string, dir = root): string[] {
  const out = [relative(root, dir)];
  for (const name of readdirSync(dir)) if (lstatSync(join(dir, name)).isDirectory()) out.push(...dirsOf(root, join(dir, name)));
  return out.sort();
}

beforeAll(async () => {
  w = await makeWorld();
  ids = await fourRequests(w);
  expect((await guardIn(w, ["audit", "log", "--since", "1h"])).code).toBe(0); // (builds the seek index)
  const v = await guardIn(w, ["audit", "verify"]);
  expect(v.code, v.stdout).toBe(0);
  snapshot = join(w.dir, "genuine-store");
  cpSync(w.store, snapshot, { recursive: true, preserveTimestamps: true });
}, 60_000);
afterAll(async () => w?.cleanup());

type StoreEdit = { file: number; line: number; edit: Edit } | { plant: number; name: string };

const names = fc.oneof(
  fc.constantFrom("r-aaaaaaaaaaaaaaaaaaaa", "r-aaaaaaaaaaaaaaaaaaaa.json", "..json", "v1", "v2", "\u001b[2J", "9999999999999-r-aaaaaaaaaaaaaaaaaaaa"),
  fc.string({ minLength: 1, maxLength: 30 }).filter((n) => !n.includes("/") && !n.includes("\u0000") && n !== "." && n !== ".."),
);
const storeEdits: fc.Arbitrary<StoreEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ file: fc.nat(), line: fc.nat(), edit: edits }) },
  { weight: 1, arbitrary: fc.record({ plant: fc.nat(), name: names }) },
);

/** Makes the edit in w.store (a fresh copy of the genuine store); a description of it. */
function apply(e: StoreEdit): string {
  rmSync(w.store, { recursive: true, force: true });
  cpSync(snapshot, w.store, { recursive: true, preserveTimestamps: true });
  if ("plant" in e) {
    const dirs = dirsOf(w.store);
    const dir = join(w.store, dirs[e.plant % dirs.length]!);
    try {
      writeFileSync(join(dir, e.name), "", { mode: 0o600, flag: "wx" });
    } catch {
      // A name the directory already holds: nothing planted.
    }
    return `planted ${JSON.stringify(relative(w.store, join(dir, e.name)))}`;
  }
  const files = filesOf(w.store);
  const rel = files[e.file % files.length]!;
  const path = join(w.store, rel);
  const text = readFileSync(path, "utf8");
  if (rel === join("audit", "events.jsonl")) {
    const lines = text.split("\n").slice(0, -1);
    const at = e.line % lines.length;
    if (e.edit.op === "delete") lines.splice(at, 1);
    else lines[at] = editText(lines[at]!, e.edit);
    writeFileSync(path, lines.map((l) => `${l}\n`).join(""));
    return `${rel} line ${at + 1}: ${JSON.stringify(e.edit)}`;
  }
  if (e.edit.op === "delete") unlinkSync(path);
  else writeFileSync(path, editText(text, e.edit));
  return `${rel}: ${JSON.stringify(e.edit)}`;
}

async function answer(args: string[], as: string, what: string): Promise<number> {
  return expectAnswered(await guardIn(w, args, { as, env: PROD }), what);
}

describe("an edited file store never makes a run happen (property)", () => {
  it("no edit runs a consumed, unapproved or denied request; every answer is a documented one, escaped", async () => {
    expect(filesOf(snapshot)).toEqual(expect.arrayContaining([join("audit", "events.jsonl"), join("index", "audit-seek"), `consumed/${ids.consumed}.json`]));
    await fc.assert(
      fc.asyncProperty(storeEdits, async (e) => {
        const what = apply(e);
        for (const name of ["consumed", "unapproved", "denied"] as const) {
          const code = await answer(["run", "--request", ids[name], "--confirm", "production"], "alice", `${what}; run ${name}`);
          expect(code, `${what}; run ${name}`).not.toBe(0);
        }
        await answer(["run", "--request", ids.approved, "--confirm", "production"], "alice", `${what}; run approved`);
        await answer(["show", ids.approved], "bob", `${what}; show`);
        await answer(["requests", "--all"], "bob", `${what}; requests --all`);
        await answer(["audit", "verify"], "bob", `${what}; audit verify`);
      }),
      { numRuns: 25 },
    );
  }, 180_000);
});
