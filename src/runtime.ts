/**
 * Everything guard takes from the process it runs in, carried by one object: the local clock, the
 * environment, the working directory, the user ids, the terminal (stdout, stderr, whether stdin is one),
 * the questions asked there, randomness, how a store is opened and a signer loaded, and where the exit
 * code goes. main.ts builds it from the real process (processRuntime) and hands it to the command;
 * commands read these through their Context (ctx.rt), never from `process`. A test builds its own
 * (test/helpers/runtime.ts) and runs a command in process: a fixed clock, an environment of its own,
 * captured output, an in-memory store.
 *
 * What keeps real process access, because it is the edge: the wrapped command's spawn and signal relay
 * (adapters/exec.ts), the child processes of previews, probes, credential minting and ssh-keygen (each
 * killed by its process group), the trust checks that compare a file's owner with this process's real
 * uid (adapters/config.ts, program.ts, policy-cache.ts, store/file.ts: what the kernel enforces is the
 * real process's, whatever a runtime says), the store's own locks (store/lock.ts: pids and lock ages),
 * and main.ts itself.
 */
import type { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { homedir, hostname, userInfo } from "node:os";
import type { Store } from "./adapters/store/types.js";
import type { Signer, SignerOptions } from "./adapters/signer.js";
import type { StdinKind } from "./adapters/stdin.js";
import type { ChildStdio } from "./adapters/exec.js";
import { processTerminal, type Terminal } from "./adapters/output.js";
// Static: every run appends to the audit log. open.ts loads the PostgreSQL driver only for postgres:// stores.
import { openStore } from "./adapters/store/open.js";

export interface AskOptions {
  validate?: (value: string) => true | string;
  /** The message of the refusal (130) when the person cancels the question. */
  cancelled: string;
}

export interface Runtime {
  /**
   * The local clock, epoch ms: for how long something took and for local file names only. Every
   * decision is made at the store's clock (Context.now): one clock decides.
   */
  now(): number;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** The real and effective user id (-1 where the platform has none). */
  readonly uid: number;
  readonly euid: number;
  /** This machine's name, the login name (may throw: no passwd entry), and the home directory without $HOME. */
  hostname(): string;
  username(): string;
  homedir(): string;
  /** This process's id, as a consumption record names it. */
  readonly pid: number;
  /** guard's stdout and stderr, made on first use, and whether stdin is a terminal. */
  readonly terminal: Terminal;
  /** What standard input is (adapters/stdin.ts): an approval-gated run takes only a terminal or /dev/null (C10). */
  stdinKind(): Promise<StdinKind>;
  /** Whether guard may ask a question: stdin and stderr are both terminals. */
  interactive(): boolean;
  /** One question at the terminal; 64 without one, 130 when cancelled. */
  ask(message: string, opts: AskOptions): Promise<string>;
  /**
   * Call `handler` on Ctrl-C or SIGTERM (while guard waits for an approval) instead of ending the
   * process; the answer stops listening. The wrapped command's own signal relay is adapters/exec.ts's.
   */
  onInterrupt(handler: () => void): () => void;
  /** Random bytes for ids and nonces. */
  randomBytes(n: number): Buffer;
  /** The store named by a store setting (adapters/store/open.ts for the real process). */
  openStore(url: string, opts: { create?: boolean }): Promise<Store>;
  /** The signing key (adapters/signer.ts for the real process), loaded on first use. */
  loadSigner(opts: SignerOptions): Promise<Signer>;
  /**
   * The wrapped command's stdin, stdout and stderr when they are not guard's own: absent for the real
   * process (the child inherits guard's terminal); a test that runs guard in process gives files.
   */
  readonly childStdio?: ChildStdio;
  /** Where a command leaves its exit code when it ends without an error; main.ts exits with it. */
  exitCode: number | undefined;
}

/** The runtime of the real process: built once, at the edge (main.ts). */
export function processRuntime(terminal: Terminal = processTerminal()): Runtime {
  return {
    now: () => Date.now(),
    env: process.env,
    cwd: process.cwd(),
    uid: process.getuid?.() ?? -1,
    euid: process.geteuid?.() ?? -1,
    pid: process.pid,
    hostname: () => hostname(),
    username: () => userInfo().username,
    homedir: () => homedir(),
    terminal,
    // Loaded with the approval flow, which alone asks (an allowed run never looks at its stdin).
    stdinKind: async () => (await import("./adapters/stdin.js")).classifyStdin(),
    interactive: () => Boolean(terminal.stdinIsTTY() && terminal.stderr().isTTY),
    ask: async (message, opts) => (await import("./adapters/prompt.js")).ask(message, opts),
    onInterrupt: (handler) => {
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
    randomBytes: (n) => randomBytes(n),
    openStore: (url, opts) => openStore(url, opts),
    // Loaded on first use: an allowed run signs nothing (docs/benchmarks.md: what a run compiles).
    loadSigner: async (opts) => (await import("./adapters/signer.js")).loadSigner(opts),
    exitCode: undefined,
  };
}
