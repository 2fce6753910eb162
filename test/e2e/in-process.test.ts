/**
 * The in-process guard (test/helpers/in-process.ts) that most end-to-end tests use is held to the built
 * CLI here: for each command line, both give the same exit code and the same stdout and stderr (request
 * ids, times and durations aside), from the same world. Among them: an allowed run whose command's output
 * must reach the caller's stdout, refusals before and after a command line is read (commander's and
 * guard's own), a whole request → approve → run flow, and a policy error with its file:line:col relative
 * to the working directory.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, type GuardResult, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

/** Two of each world, one for the built CLI and one for the in-process guard, so each sees the same state. */
interface Pair {
  spawned: World;
  inProcess: World;
}
let w: Pair;
let broken: Pair;
const pair = async (): Promise<Pair> => {
  const [spawned, inProcess] = await Promise.all([makeWorld(), makeWorld()]);
  return { spawned, inProcess };
};
beforeAll(async () => {
  [w, broken] = await Promise.all([pair(), pair()]);
  for (const b of [broken.spawned, broken.inProcess]) await writeFile(join(b.dir, "policies", "guard.yaml"), "version: 1\nenvironments:\n  production: { protected: maybe }\n");
});
afterAll(async () => Promise.all([w, broken].flatMap((p) => (p ? [p.spawned.cleanup(), p.inProcess.cleanup()] : []))));

const PROD = { DATABASE_URL: "postgres://prod-db.internal/elb" };
/** What differs between two runs of the same command: ids, times, durations. */
const same = (r: GuardResult) => ({
  code: r.code,
  stdout: norm(r.stdout),
  stderr: norm(r.stderr),
});
const norm = (s: string) =>
  s
    .replace(/\br-[a-z2-7]{20}\b/g, "r-…")
    .replace(/\d{4}-\d\d-\d\d[T ][\d:.]+( UTC|Z)?/g, "TIME")
    .replace(/\b\d+(\.\d+)? ?(ms|s)\b/g, "N$2")
    // The worlds' own directories and keys, and so their policies' digests.
    .replace(/\/tmp\/guard-e2e-\w+/g, "WORLD")
    .replace(/SHA256:[A-Za-z0-9+/]{43}/g, "SHA256:…")
    .replace(/AAAA[A-Za-z0-9+/]+=*/g, "KEY")
    .replace(/\b[0-9a-f]{64}\b/g, "DIGEST")
    .replace(/\b[0-9a-f]{12,16}…/g, "DIGEST…");

type Opts = Parameters<typeof guard>[2];
const table: [string, string[], Opts, () => Pair][] = [
  ["an allowed run: the command's own output on stdout", ["run", "--", "./maintenance/report-lb-state.sh"], { as: "dave" }, () => w],
  ["a deny rule", ["run", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { as: "dave", env: PROD }, () => w],
  ["a protected run without a request", ["run", "--reason", "INC-1", "--confirm", "production", "--", "./maintenance/purge-lb-state.sh"], { as: "dave", env: PROD }, () => w],
  ["check, as JSON", ["check", "--json", "--", "./maintenance/purge-lb-state.sh"], { as: "dave", env: PROD }, () => w],
  ["an unknown option (commander)", ["run", "--bogus", "--", "x"], {}, () => w],
  ["an unknown option under --json", ["run", "--json", "--bogus", "--", "x"], {}, () => w],
  ["--help", ["--help"], {}, () => w],
  ["whoami", ["whoami"], { as: "bob" }, () => w],
  ["a policy that does not validate: file:line:col", ["check", "--", "./maintenance/report-lb-state.sh"], { as: "alice" }, () => broken],
  ["policy lint of it, as JSON", ["policy", "lint", "--json"], {}, () => broken],
];

describe("the in-process guard answers as the built CLI does", () => {
  for (const [name, args, opts, world] of table) {
    it(name, async () => {
      const spawned = await guard(world().spawned, args, opts);
      const inProcess = await guardIn(world().inProcess, args, opts);
      expect(same(inProcess)).toEqual(same(spawned));
    });
  }

  it("a request, its approval and the approved run, each side by side", async () => {
    const env = PROD;
    const req = ["request", "--reason", "INC-7", "--", "./maintenance/purge-lb-state.sh"];
    const [a, b] = [await guard(w.spawned, req, { as: "dave", env }), await guardIn(w.inProcess, req, { as: "dave", env })];
    expect(same(b)).toEqual(same(a));
    const [idA, idB] = [requestIdIn(a.stdout), requestIdIn(b.stdout)];
    const [approvedA, approvedB] = [await guard(w.spawned, ["approve", "--yes", idA], { as: "bob" }), await guardIn(w.inProcess, ["approve", "--yes", idB], { as: "bob" })];
    expect(approvedA.code).toBe(0);
    expect(same(approvedB)).toEqual(same(approvedA));
    const run = (id: string) => ["run", "--request", id, "--confirm", "production", "--", "./maintenance/purge-lb-state.sh"];
    const [ranA, ranB] = [await guard(w.spawned, run(idA), { as: "dave", env }), await guardIn(w.inProcess, run(idB), { as: "dave", env })];
    expect(ranA.code).toBe(0);
    expect(ranA.stdout).toContain("purged");
    expect(same(ranB)).toEqual(same(ranA));
    // Single use, in either.
    const [againA, againB] = [await guard(w.spawned, run(idA), { as: "dave", env }), await guardIn(w.inProcess, run(idB), { as: "dave", env })];
    expect(againA.code).not.toBe(0);
    expect(same(againB)).toEqual(same(againA));
  });

  it("refuses two at once instead of mixing their output", async () => {
    const first = guardIn(w.inProcess, ["whoami"], { as: "bob" });
    await expect(guardIn(w.inProcess, ["whoami"], { as: "bob" })).rejects.toThrow(/one in-process guard at a time/);
    expect((await first).code).toBe(0);
  });
});
