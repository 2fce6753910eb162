// Timing harness: wall time of whole processes, paired and interleaved, summarised by medians.
//
// The machine is shared and noisy, so absolute times from different moments mean little. Every round
// runs each command once, in a rotated order (each command takes each position equally often), and the
// ratio that counts is the median of the per-round ratios to the floor: a burst of load that slows one
// round slows both sides of its pair.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Every child still running, so that an interrupted bench leaves no process behind. */
const live = new Set();

/** Register a child started elsewhere (fork) so that killLiveChildren reaches it too. */
export function trackChild(child) {
  live.add(child);
  child.on("exit", () => live.delete(child));
  return child;
}

/** Kill what this bench started and has not reaped yet (by pid, never by name). */
export function killLiveChildren() {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

export const now = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * Run one process to completion. Resolves with its wall time (spawn → exit, ms), exit code, signal
 * and captured output; rejects when it exits with anything but `expect` (a benchmark of a failing
 * command measures nothing).
 */
export function runOnce(file, args, opts = {}) {
  const { env, cwd, stdin = "ignore", stdout = "ignore", expect = 0, timeoutMs = 120_000, onSpawn, label, maxStdout = 1 << 20 } = opts;
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(file, args, { env, cwd, stdio: [stdin, stdout === "pipe" ? "pipe" : stdout, "pipe"] });
    live.add(child);
    let t1 = 0;
    let err = "";
    let out = "";
    child.stderr.setEncoding("utf8").on("data", (s) => {
      if (err.length < 1 << 20) err += s;
    });
    child.stdout?.setEncoding("utf8").on("data", (s) => {
      if (out.length < maxStdout) out += s;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("spawn", () => onSpawn?.(child));
    child.on("exit", () => {
      t1 = now();
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${label ?? file}: cannot start: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const result = { ms: (t1 || now()) - t0, code, signal, stderr: err, stdout: out, pid: child.pid, t0, t1 };
      if (expect !== null && code !== expect) {
        const what = signal ? `was killed by ${signal}` : `exited ${code}, expected ${expect}`;
        reject(new Error(`${label ?? [file, ...args].join(" ")} ${what}\n${err.trim().split("\n").slice(-12).join("\n")}`));
        return;
      }
      resolve(result);
    });
  });
}

/**
 * Paired, interleaved rounds. `cases` is [{ name, file, args, env, cwd, expect? }]; returns
 * { times: { [name]: number[] }, rounds } with wall times (ms), warm-up rounds discarded. Stops early,
 * after at least `minRounds`, once `budgetMs` is spent (a slow command on a loaded machine must not
 * stretch the bench to many minutes); `rounds` says how many were measured.
 */
export async function pairedRounds(cases, { rounds, warmup = 3, budgetMs = Infinity, minRounds = 10 }) {
  const times = Object.fromEntries(cases.map((c) => [c.name, []]));
  const start = now();
  let r = 0;
  for (; r < warmup + rounds; r++) {
    if (r >= warmup + minRounds && now() - start > budgetMs) break;
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(r + k) % cases.length];
      const { ms } = await runOnce(c.file, c.args, { env: c.env, cwd: c.cwd, expect: c.expect ?? 0, label: c.name });
      if (r >= warmup) times[c.name].push(ms);
    }
  }
  return { times, rounds: Math.max(0, r - warmup) };
}

export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median of the per-round ratios a[i] / b[i]. */
export function pairedRatio(a, b) {
  return median(a.map((x, i) => x / b[i]));
}

export const hasGnuTime = () => existsSync("/usr/bin/time");

/**
 * Peak resident memory (MB) of a command and its waited-for children, by GNU time's %M. Null when
 * /usr/bin/time is not installed (the table then says n/a).
 */
export async function maxRssMb(file, args, opts, dir, runs = 3) {
  if (!hasGnuTime()) return null;
  const out = join(dir, `rss-${process.hrtime.bigint()}.txt`);
  const samples = [];
  for (let i = 0; i < runs; i++) {
    await runOnce("/usr/bin/time", ["-f", "%M", "-o", out, file, ...args], opts);
    samples.push(Number((await readFile(out, "utf8")).trim().split("\n").pop()) / 1024);
  }
  return median(samples);
}

/** VmHWM (peak RSS) of a live process, in MB, or null once it is gone. */
export async function vmHwmMb(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Run one process under GNU time: its wall time (ms), the CPU it used (user + sys, ms, its waited-for
 * children included, from the kernel's resource usage) and its peak RSS (MB, %M). Null when
 * /usr/bin/time is not installed.
 */
export async function runWithUsage(file, args, opts, dir) {
  if (!hasGnuTime()) return null;
  const out = join(dir, `usage-${process.hrtime.bigint()}.txt`);
  const r = await runOnce("/usr/bin/time", ["-f", "%U %S %M", "-o", out, file, ...args], opts);
  const [user, sys, rssKb] = (await readFile(out, "utf8")).trim().split("\n").pop().split(" ").map(Number);
  return { ...r, cpuMs: (user + sys) * 1000, rssMb: rssKb / 1024 };
}
