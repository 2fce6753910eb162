/**
 * Runs the approved program with guard's terminal, relays signals, and reports how it ended.
 *
 * - stdio is inherited: guard never touches the child's bytes, so a flood of output costs guard no
 *   memory (X4) and the child keeps the real terminal.
 * - node:child_process, not execa: execa costs ~85 ms at start-up (docs/benchmarks.md) and buys nothing here.
 * - Exit status: the child's code, or 128+N when signal N ended it (X3), as a shell reports it. The signal
 *   name is returned too, so the caller can print it or re-raise.
 *
 * Signal relay (X1), while the child runs:
 * - SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 are always forwarded. After a forwarded SIGTERM or SIGHUP the
 *   child gets `killGraceMs` (default 10 s) to exit, then SIGKILL (X2): guard is being asked to stop, and
 *   must not leave a half-finished production job running without anyone watching it.
 * - SIGINT and SIGQUIT (Ctrl-C, Ctrl-\) from a terminal go to the whole foreground process group, so the
 *   child, which shares guard's group, already has them; a second copy changes what some programs do
 *   (psql, shell traps). sudo tells the two apart with siginfo; Node cannot see siginfo, so guard asks
 *   Linux instead (/proc/PID/stat): when guard and the child are both in their terminal's foreground
 *   group, the signal is taken as keyboard-generated and not forwarded. Otherwise (no terminal, guard in
 *   the background, the child in another group, or no /proc) it is forwarded, once per signal received.
 *   The cost: `kill -INT <guard pid>` from another terminal while guard is in the foreground does not
 *   reach the child; send SIGTERM, or signal the process group (`kill -INT -<pgid>`).
 * - SIGWINCH is not relayed: the child reads the terminal size from the terminal itself, which signals
 *   the whole foreground group on resize.
 * - SIGKILL to guard cannot be caught: the child keeps running, orphaned; the audit log then has a
 *   "started" record without an "ended" one for the caller to flag.
 */
import { childProcess } from "./child-process.js";
import type { ChildProcess } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { ExitCode, GuardError, usageError } from "../core/errors.js";

export const DEFAULT_KILL_GRACE_MS = 10_000;

export interface RunChildOptions {
  /**
   * The absolute path to execute: the real path, or, for a program reached through symbolic links, the
   * path found (from resolveProgram; checked by verifyUnchanged and verifyChain).
   */
  file: string;
  /** argv[0] as the user typed it (the child sees it as its argv[0]), then the arguments. */
  argv: string[];
  cwd: string;
  /** The child's whole environment; undefined values are left out. */
  env: Record<string, string | undefined>;
  /** Run the child as this uid/gid (guard must be root; spawn then clears the supplementary groups). */
  uid?: number;
  gid?: number;
  /** How long a child may take to exit after a relayed SIGTERM/SIGHUP before it is SIGKILLed. */
  killGraceMs?: number;
  /**
   * The child's stdin, stdout and stderr: guard's own (inherited) unless given. Only a test that runs guard
   * in process gives others (file descriptors it reads afterwards, test/helpers/in-process.ts).
   */
  stdio?: ChildStdio;
  /** Called once the child exists. If it throws, the child is killed and runChild rejects with that error. */
  onSpawn?: (pid: number) => void;
}

/** stdin, stdout and stderr of the wrapped command: inherited, or (stdin) nothing, or an open file descriptor. */
export type ChildStdio = readonly ["inherit" | "ignore", "inherit" | number, "inherit" | number];

export interface ChildOutcome {
  /** What guard should exit with: the child's code, or 128+N when signal N ended it. */
  exitCode: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
}

const ALWAYS_RELAYED = ["SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
const KEYBOARD_SIGNALS = ["SIGINT", "SIGQUIT"] as const;
const ESCALATING: ReadonlySet<NodeJS.Signals> = new Set(["SIGTERM", "SIGHUP"]);

export function runChild(opts: RunChildOptions): Promise<ChildOutcome> {
  const [argv0, ...args] = opts.argv;
  if (argv0 === undefined) return Promise.reject(usageError("no command to run", "give the command after `--`"));
  const graceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.env)) if (value !== undefined) env[name] = value;

  return new Promise<ChildOutcome>((resolvePromise, reject) => {
    let child: ChildProcess | undefined;
    let spawned = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let hookFailed = false;
    let hookError: unknown;

    const relay = (signal: NodeJS.Signals): void => {
      if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const isKeyboard = (KEYBOARD_SIGNALS as readonly string[]).includes(signal);
      if (isKeyboard && keyboardSignalReachedChild(child.pid)) return;
      child.kill(signal);
      if (ESCALATING.has(signal) && killTimer === undefined) {
        killTimer = setTimeout(() => child?.kill("SIGKILL"), graceMs);
      }
    };
    const relayed = [...ALWAYS_RELAYED, ...KEYBOARD_SIGNALS];
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      for (const signal of relayed) process.off(signal, relay);
      if (killTimer !== undefined) clearTimeout(killTimer);
      return true;
    };

    // Handlers go in before spawn: a signal that arrives during the (synchronous) spawn is dispatched
    // afterwards, when `child` is set, instead of killing guard and orphaning the child.
    for (const signal of relayed) process.on(signal, relay);
    const started = process.hrtime.bigint();
    try {
      child = childProcess().spawn(opts.file, args, { argv0, cwd: opts.cwd, env, stdio: opts.stdio ? [...opts.stdio] : "inherit", shell: false, detached: false, uid: opts.uid, gid: opts.gid });
    } catch (error) {
      finish();
      reject(spawnFailure(error, opts.file, opts.cwd));
      return;
    }

    const spawnedChild = child;
    spawnedChild.once("spawn", () => {
      spawned = true;
      if (!opts.onSpawn || spawnedChild.pid === undefined) return;
      try {
        opts.onSpawn(spawnedChild.pid);
      } catch (error) {
        hookFailed = true;
        hookError = error;
        spawnedChild.kill("SIGKILL");
      }
    });
    spawnedChild.on("error", (error) => {
      // After a successful spawn, 'error' only reports a signal that could not be delivered (EPERM on
      // a setuid child, say); the child is still running and its exit is still awaited.
      if (spawned || !finish()) return;
      reject(spawnFailure(error, opts.file, opts.cwd));
    });
    spawnedChild.once("exit", (code, signal) => {
      if (!finish()) return;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (hookFailed) {
        reject(hookError);
        return;
      }
      const signalNumber = signal === null ? undefined : osConstants.signals[signal];
      const exitCode = code ?? (signalNumber === undefined ? undefined : 128 + signalNumber);
      if (exitCode === undefined) {
        reject(new GuardError(ExitCode.INTERNAL, `the child ended without a readable status (code ${code}, signal ${signal})`));
        return;
      }
      resolvePromise({ exitCode, code, signal, durationMs });
    });
  });
}

/**
 * True when a keyboard-generated signal has, in all likelihood, already reached the child: guard has a
 * controlling terminal, guard's process group is that terminal's foreground group, and so is the
 * child's. Anything unknown answers false, so the signal is forwarded.
 */
function keyboardSignalReachedChild(childPid: number): boolean {
  const self = procStat("self");
  const kid = procStat(String(childPid));
  if (!self || !kid) return false;
  return self.ttyNr !== 0 && self.tpgid > 0 && self.tpgid === self.pgrp && kid.pgrp === self.tpgid;
}

function procStat(pid: string): { pgrp: number; ttyNr: number; tpgid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    // "pid (comm) state ppid pgrp session tty_nr tpgid ..."; comm may contain spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const [pgrp, ttyNr, tpgid] = [Number(fields[2]), Number(fields[4]), Number(fields[5])];
    return Number.isInteger(pgrp) && Number.isInteger(ttyNr) && Number.isInteger(tpgid) ? { pgrp, ttyNr, tpgid } : null;
  } catch {
    return null;
  }
}

function spawnFailure(error: unknown, file: string, cwd: string): GuardError {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "unknown error";
  switch (code) {
    case "ENOENT":
      // spawn reports a missing working directory as ENOENT too; say which one it was.
      if (!isDirectory(cwd)) return new GuardError(ExitCode.NOT_FOUND, `working directory not found: ${cwd}`, "run guard from an existing directory");
      return new GuardError(ExitCode.NOT_FOUND, `command not found: ${file} (or the interpreter on its #! line)`, "check that the program and the interpreter named on its first line exist");
    case "EACCES":
      return new GuardError(
        ExitCode.NOT_EXECUTABLE,
        `not executable: ${file} (permission denied by the system)`,
        "the file may be on a filesystem mounted noexec, or its interpreter may not be executable; run it through its interpreter or move it",
      );
    case "ENOEXEC":
      return new GuardError(ExitCode.NOT_EXECUTABLE, `not executable: ${file} (not a format this system can run)`, "check that the file is a script with a #! line or a program built for this machine");
    case "E2BIG":
      return new GuardError(ExitCode.NOT_EXECUTABLE, `not executable: ${file} (argument list or environment too long)`, "pass fewer or shorter arguments");
    case "ERR_INVALID_ARG_VALUE":
    case "ERR_INVALID_ARG_TYPE":
      return usageError(`cannot run ${file}: an argument, the working directory or an environment value is invalid (NUL byte?)`, "remove NUL bytes from the command and its environment");
    default:
      return new GuardError(ExitCode.INTERNAL, `could not start ${file} (${code})`, "this is likely a system resource limit (processes, open files); try again");
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
