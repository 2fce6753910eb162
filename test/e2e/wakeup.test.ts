/**
 * Wake-ups are never lost (issue 18): a real `guard run --wait` and an approval stored by another
 * process, repeated, on the file store and on PostgreSQL. Each trial measures from the moment the
 * approving process has finished (the approval is stored) to the wrapped command's first output, and
 * must stay well under the waiting run's one-second re-read: a wake-up lost in the window between the
 * run's read and its wait would show up as about a second. The approvals land at varied moments
 * (jitter) so that some fall in that window.
 *
 * The waiting run is the built CLI in a process of its own; the approval is stored by guard's whole
 * command line run in the test's process (guardIn), which is another process than the waiter's, as a
 * colleague's `guard approve` is: the file store's waiter sees it through the file system, PostgreSQL's
 * through NOTIFY, exactly as from a spawned guard (test/e2e/in-process.test.ts holds the two equal).
 * That spares a Node process per trial, 40 in all.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { BIN, homeOf, makeHomes, makeWorld, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { createTestDatabase } from "../helpers/pg.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const TRIALS = 20;
const BOUND_MS = 900;

/** One trial: start the waiting run, approve from another process, time approval-stored → first output. */
async function trial(w: World, env: (who: string) => Record<string, string>, n: number): Promise<number> {
  const child = spawn(process.execPath, [BIN, "run", "--wait", "60s", "--reason", `wake-${n}`, "--confirm", "production", "--", "./maintenance/purge-lb-state.sh", `--ticket=wake-${n}`], {
    cwd: w.dir,
    env: { ...w.env, ...PROD, ...env("alice") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let firstOutput = 0;
  child.stdout.setEncoding("utf8").once("data", () => (firstOutput = Date.now()));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const done = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 30_000;
  while (!/waiting for approval of (r-[a-z2-7]{20})/.test(stderr)) {
    if (Date.now() > deadline) throw new Error(`the run never waited:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const id = /waiting for approval of (r-[a-z2-7]{20})/.exec(stderr)![1]!;
  await new Promise((r) => setTimeout(r, (n * 137) % 1000)); // land at varied points of the run's re-read cycle
  const approved = await guardIn(w, ["approve", id, "--yes"], { env: env("bob") });
  const stored = Date.now();
  expect(approved.code, approved.stderr).toBe(0);
  expect(await done, stderr).toBe(0);
  expect(firstOutput).toBeGreaterThan(0);
  return Math.max(0, firstOutput - stored);
}

async function trials(w: World, env: (who: string) => Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let n = 0; n < TRIALS; n++) out.push(await trial(w, env, n));
  return out;
}

// The two stores run one after the other, not at the same time: under load a trial that merely competes
// with the other store's processes for the two cores can take most of a second, which is what a lost
// wake-up looks like.
describe("wake-ups: a real waiting run, approved from another process", () => {
  it(`file store: ${TRIALS} trials: every run starts well within a second of its approval`, async () => {
    const w = await makeWorld();
    try {
      const ms = await trials(w, (who) => ({ GUARD_KEY: w.people[who]!.key }));
      console.log(`file store: approval stored → first output, ms: ${ms.join(", ")}`);
      expect(ms.filter((t) => t >= BOUND_MS), `approval stored → first output, ms: ${ms.join(", ")}`).toEqual([]);
    } finally {
      await w.cleanup();
    }
  }, 300_000);

  it(`PostgreSQL: ${TRIALS} trials: every run starts well within a second of its approval`, async () => {
    const db = await createTestDatabase();
    const w = await makeWorld();
    try {
      w.env.GUARD_STORE = db.url;
      await makeHomes(w, ["alice", "bob"]);
      const ms = await trials(w, (who) => homeOf(w, who));
      console.log(`PostgreSQL: approval stored → first output, ms: ${ms.join(", ")}`);
      expect(ms.filter((t) => t >= BOUND_MS), `approval stored → first output, ms: ${ms.join(", ")}`).toEqual([]);
    } finally {
      await w.cleanup();
      await db.drop();
    }
  }, 300_000);
});
