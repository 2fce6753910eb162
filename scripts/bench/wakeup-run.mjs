// Wake-up end to end, as a person feels it (issue 18): a real `guard run --wait` of a protected command
// waits for approval; another process, the real `guard approve`, stores one; the time runs from the
// moment `guard approve` has exited (the approval is stored; an upper bound on when it was) to the
// wrapped command's first instruction (scripts/race.sh writes `date +%s%N` first thing). A wake-up lost
// between the waiting run's re-read and its wait would show up as up to a second (its re-read interval).
// The approvals land at varied moments of that interval (jitter), as in test/e2e/wakeup.test.ts.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { APPROVER, PROD_DB, REQUESTER } from "./fixtures.mjs";

const ID_RE = /waiting for approval of (r-[a-z2-7]{20})/;

/**
 * One trial: ms to the wrapped command's first instruction from `guard approve` having exited (the
 * approval is stored by then: a lower bound on the latency, 0 when the run started first) and from
 * `guard approve` having been started (an upper bound: it includes approve's own run).
 */
async function trial({ guardBin, guard, base, keys, world, root, label, n }) {
  const log = join(root, `wake-run-${label}-${n}.log`);
  const child = spawn(process.execPath, [guardBin, "run", "--wait", "60s", "--confirm", "production", "--reason", `bench: wake-up ${n}`, "--", "./scripts/race.sh", log], {
    cwd: world,
    env: { ...base, DATABASE_URL: PROD_DB, GUARD_KEY: keys[REQUESTER].priv },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
  const done = new Promise((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 30_000;
  while (!ID_RE.test(stderr)) {
    if (Date.now() > deadline) throw new Error(`wake-up: the run never waited:\n${stderr}`);
    await sleep(10);
  }
  const id = ID_RE.exec(stderr)[1];
  await sleep((n * 137) % 1000);
  const asked = Date.now();
  await guard(["approve", id, "--yes"], { ...base, GUARD_KEY: keys[APPROVER].priv }, { cwd: world, expect: 0, label: "guard approve" });
  const stored = Date.now();
  const code = await done;
  if (code !== 0) throw new Error(`wake-up: the approved run exited ${code}:\n${stderr.trim().split("\n").slice(-6).join("\n")}`);
  const line = (await readFile(log, "utf8")).trim().split("\n")[0] ?? "";
  const ns = line.split(" ")[1];
  if (!/^\d{19}$/.test(ns ?? "")) throw new Error(`wake-up: the job wrote ${JSON.stringify(line)}, not "pid nanoseconds"`);
  const started = Number(BigInt(ns) / 1_000_000n);
  return { fromStored: Math.max(0, started - stored), fromAsked: started - asked };
}

const stats = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1], p90: sorted[Math.ceil(sorted.length * 0.9) - 1], max: sorted[sorted.length - 1] };
};

/** `trials` real two-process trials on one store: { stored, asked } each { median, p90, max } in ms. */
export async function measureRunWakeup(opts, trials) {
  const samples = [];
  for (let n = 0; n < trials; n++) samples.push(await trial({ ...opts, n }));
  return { stored: stats(samples.map((s) => s.fromStored)), asked: stats(samples.map((s) => s.fromAsked)) };
}
