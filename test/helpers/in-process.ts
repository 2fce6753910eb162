/**
 * guard's whole command line run in the test process, as `guard()` (test/e2e/world.ts) runs the built CLI:
 * the same arguments and environment, the same world (its policy, its file store, its people's keys), and
 * the same result (exit code, stdout, stderr). It runs src/entry.ts's runGuard, the function the built
 * CLI's main.ts runs, with the real process's runtime except for what a spawned guard would have of its
 * own: its environment, working directory, stdin (nothing, or a pipe) and output. Output goes to files,
 * which the wrapped command of a `guard run` writes to as well, so what guard and its child wrote keeps
 * its order, as in a spawned guard's piped output.
 *
 * What it saves: a Node process per call (~0.1 s of CPU on Node 20), which is most of what `npm test`
 * spends. What it cannot stand in for, and what therefore stays with the built CLI: the bundle and bin
 * itself (startup-loads, commands.test.ts), a terminal (tmux), signals to guard, two guards at once
 * (a waiting run and its approval, races, locks), crashes and exit paths (fault/), and anything that
 * reads process-wide state a spawned process would have of its own (PG* variables in the environment,
 * `node` options). Calls may not overlap: guard's output module has one terminal per process.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { runGuard } from "../../src/entry.js";
import { processRuntime, type Runtime } from "../../src/runtime.js";
import { setColour, setJsonErrors, type OutStream } from "../../src/adapters/output.js";
import { envOf, type GuardResult, type World } from "../e2e/world.js";

let running = false;

/** An output stream that writes straight to a file descriptor, as a spawned guard's piped stdout would. */
function fdStream(fd: number): OutStream {
  // Strings reach write() as Buffers (decodeStrings, the default).
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      writeSync(fd, chunk);
      done();
    },
  }) as OutStream;
  stream.isTTY = false;
  return stream;
}

/** Run `guard ARGS` in process as `who` (their key), in the world's directory, with no terminal. */
export async function guardIn(
  world: World,
  args: string[],
  opts: { as?: string; env?: Record<string, string | undefined>; cwd?: string; stdin?: "null" | "pipe"; input?: string } = {},
): Promise<GuardResult> {
  if (running) throw new Error("guardIn: one in-process guard at a time (guard's output has one terminal per process); spawn the built CLI for two at once");
  running = true;
  const env = envOf(world, opts);
  const dir = mkdtempSync(join(tmpdir(), "guard-inproc-out-"));
  const outFd = openSync(join(dir, "stdout"), "w+", 0o600);
  const errFd = openSync(join(dir, "stderr"), "w+", 0o600);
  try {
    const out = fdStream(outFd);
    const err = fdStream(errFd);
    const terminal = { stdout: () => out, stderr: () => err, stdinIsTTY: () => false, env };
    const piped = opts.input !== undefined || opts.stdin === "pipe";
    const rt: Runtime = {
      ...processRuntime(terminal),
      env,
      cwd: opts.cwd ?? world.dir,
      // os.homedir() reads this process's HOME; a spawned guard's would read its own.
      homedir: () => env.HOME ?? homedir(),
      stdinKind: async () => (piped ? "pipe" : "null"),
      // Never reached (no terminal, so not interactive); were it, a question must fail the test, not wait.
      ask: async (message) => {
        throw new Error(`an in-process guard without a terminal was asked: ${message}`);
      },
      childStdio: ["ignore", outFd, errFd],
    };
    // A new process starts with these unset; here they would carry over from the call before.
    setColour(null);
    setJsonErrors(false);
    const code = await runGuard(rt, [process.execPath, "guard", ...args]);
    return { code, signal: null, stdout: readFileSync(join(dir, "stdout"), "utf8"), stderr: readFileSync(join(dir, "stderr"), "utf8") };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
    rmSync(dir, { recursive: true, force: true });
    running = false;
  }
}
