/**
 * A runtime for running guard's commands in process (src/runtime.ts): an environment and working
 * directory of its own, a fixed clock, stdout and stderr captured as text, no terminal (so no question
 * is ever asked), real randomness, the real signer, and an in-memory store (a test seam; no store URL
 * selects it) whose clock is the same fixed clock. One place is shared by every store the runtime
 * opens, as one store directory is by every guard process.
 */
import { Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { loadSigner } from "../../src/adapters/signer.js";
import { openStore } from "../../src/adapters/store/open.js";
import type { OutStream } from "../../src/adapters/output.js";
import type { Runtime } from "../../src/runtime.js";
import type { StdinKind } from "../../src/adapters/stdin.js";

export interface TestRuntime extends Runtime {
  /** Everything written to stdout, and to stderr, so far. */
  stdout(): string;
  stderr(): string;
  /** The store's records: plant or inspect them the way a store writer could. */
  readonly place: MemoryPlace;
  /** Deliver a Ctrl-C to what listens (onInterrupt), as the terminal would. */
  interrupt(): void;
  /** The store locations commands asked to open. */
  readonly opened: string[];
}

/** An output stream that keeps what is written to it as text; not a terminal unless the test says so. */
export function captureStream(): { stream: OutStream; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as OutStream;
  stream.isTTY = false;
  return { stream, text: () => text };
}

/**
 * `realStore`: open the store the location names (guard's own openStore: a file store or PostgreSQL)
 * instead of the memory store, for commands whose behaviour over a real store's indexes is under test.
 */
export function testRuntime(opts: { env: Record<string, string>; cwd: string; now: number; place?: MemoryPlace; stdin?: StdinKind; realStore?: boolean }): TestRuntime {
  const out = captureStream();
  const err = captureStream();
  const place = opts.place ?? new MemoryPlace();
  const opened: string[] = [];
  const env = { ...opts.env };
  const interruptHandlers = new Set<() => void>();
  return {
    now: () => opts.now,
    env,
    cwd: opts.cwd,
    uid: process.getuid?.() ?? -1,
    euid: process.geteuid?.() ?? -1,
    pid: process.pid,
    hostname: () => "inproc.test",
    username: () => "tester",
    homedir: () => opts.env.HOME ?? "/nonexistent",
    terminal: { stdout: () => out.stream, stderr: () => err.stream, stdinIsTTY: () => false, env },
    // By default as under `guard … </dev/null`: no terminal, nothing piped in.
    stdinKind: async () => opts.stdin ?? "null",
    interactive: () => false,
    ask: async (message) => {
      throw new Error(`a test without a terminal was asked: ${message}`);
    },
    onInterrupt: (handler) => {
      interruptHandlers.add(handler);
      return () => interruptHandlers.delete(handler);
    },
    interrupt: () => {
      for (const h of [...interruptHandlers]) h();
    },
    randomBytes: (n) => randomBytes(n),
    openStore: async (url, o) => {
      opened.push(url);
      return opts.realStore ? openStore(url, o) : openMemoryStore(place, { now: () => opts.now });
    },
    loadSigner,
    exitCode: undefined,
    stdout: out.text,
    stderr: err.text,
    place,
    opened,
  };
}

/**
 * Run a command body the way entry.ts does: its exit code is the one it left in the runtime, or that of
 * the GuardError it ended in (reported on the runtime's stderr, as main reports it).
 */
export async function exitCodeOf(rt: TestRuntime, body: () => Promise<void>): Promise<number> {
  const { GuardError } = await import("../../src/core/errors.js");
  const { reportError, useTerminal } = await import("../../src/adapters/output.js");
  useTerminal(rt.terminal);
  try {
    await body();
    return rt.exitCode ?? 0;
  } catch (err) {
    if (!(err instanceof GuardError)) throw err;
    if (!err.reported) reportError(err);
    return err.exitCode;
  }
}
