/**
 * The child misbehaves, through the built CLI: X2, a child that ignores SIGTERM is SIGKILLed after the
 * documented grace (DEFAULT_KILL_GRACE_MS, 10 s: this test takes that long); X4, a child that floods its
 * output leaves guard's peak memory (VmHWM from /proc) where a quiet child leaves it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { DEFAULT_KILL_GRACE_MS } from "../../src/adapters/exec.js";
import { BIN, makeWorld, type World } from "../e2e/world.js";
import { auditVerify, guardRun } from "./harness.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w?.cleanup());

interface Watched {
  pid: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  bytes: () => number;
  stderr: () => string;
}

/** `guard run -- <script>` in development (allowed), stdout drained and counted, stdin /dev/null. */
function startGuard(script: string): Watched {
  const child = spawn(process.execPath, [BIN, "run", "--", script], { cwd: w.dir, env: w.env, stdio: ["ignore", "pipe", "pipe"] });
  let bytes = 0;
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (bytes += d.length));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  return { pid: child.pid!, exit, bytes: () => bytes, stderr: () => stderr };
}

async function waitFor(file: string, ms = 15_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!existsSync(file)) {
    if (performance.now() > deadline) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Peak resident memory of a live process, in KiB (0 once it is gone). */
function vmHwmKiB(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

describe("X2: a child that ignores SIGTERM", () => {
  it("X2: kill -TERM <guard>: the child gets SIGTERM, then SIGKILL after the grace period; guard exits 137 and the log says so", async () => {
    const ready = join(w.dir, "stubborn.ready");
    const got = join(w.dir, "stubborn.term");
    await writeFile(
      join(w.dir, "maintenance", "stubborn.sh"),
      `#!/bin/sh\ntrap 'echo TERM >> "${got}"' TERM\ntouch "${ready}"\nwhile :; do sleep 0.1; done\n`,
      { mode: 0o755 },
    );
    const g = startGuard("./maintenance/stubborn.sh");
    await waitFor(ready);
    const sent = performance.now();
    process.kill(g.pid, "SIGTERM");
    const end = await g.exit;
    const waited = end.at - sent;
    expect(end.code, g.stderr()).toBe(137);
    expect(readFileSync(got, "utf8")).toBe("TERM\n");
    expect(waited).toBeGreaterThanOrEqual(DEFAULT_KILL_GRACE_MS - 500);
    expect(waited).toBeLessThan(DEFAULT_KILL_GRACE_MS + 10_000);
    const v = await auditVerify(w);
    expect(v.code).toBe(0);
    expect(v.report?.interrupted).toEqual([]);
    const finished = (await guardRun(w, ["audit", "log", "--json", "--type", "run.finished"])).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(finished.at(-1)?.data).toMatchObject({ exitCode: 137, signal: "SIGKILL" });
  }, DEFAULT_KILL_GRACE_MS + 30_000);
});

describe("X4: a child that floods its output", () => {
  async function peakOf(script: string, body: string): Promise<{ peakKiB: number; bytes: number; code: number | null }> {
    await writeFile(join(w.dir, "maintenance", script), body, { mode: 0o755 });
    const g = startGuard(`./maintenance/${script}`);
    let peak = 0;
    let done = false;
    void g.exit.then(() => (done = true));
    while (!done) {
      peak = Math.max(peak, vmHwmKiB(g.pid));
      await new Promise((r) => setTimeout(r, 25));
    }
    const end = await g.exit;
    return { peakKiB: peak, bytes: g.bytes(), code: end.code };
  }

  it("X4: 256 MiB of binary output through guard's stdout: guard's peak memory stays within 20 MiB of a quiet run's", async () => {
    const size = 256 * 1024 * 1024;
    // Both children linger a moment so the last /proc sample is taken after the output is done.
    const quiet = await peakOf("quiet.sh", "#!/bin/sh\nsleep 0.5\n");
    const flood = await peakOf("flood.sh", `#!/bin/sh\nhead -c ${size} /dev/urandom\nsleep 0.5\n`);
    expect(quiet.code).toBe(0);
    expect(flood.code).toBe(0);
    expect(flood.bytes).toBe(size);
    expect(quiet.peakKiB).toBeGreaterThan(0);
    expect(flood.peakKiB - quiet.peakKiB).toBeLessThan(20 * 1024);
  }, 60_000);
});
