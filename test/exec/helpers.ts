/** Shared set-up for the execution tests: temp dirs, the bundled harness, scripts, waiting for files. */
import { build } from "esbuild";
import { spawn } from "node:child_process";
import type { StdioOptions } from "node:child_process";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HARNESS_SOURCE = fileURLToPath(new URL("./fixtures/harness.ts", import.meta.url));

export async function makeTempDir(prefix = "guard-exec-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Bundle the harness (and the adapters it imports) into one ESM file that `node` runs directly. */
export async function buildHarness(dir: string): Promise<string> {
  const outfile = join(dir, "harness.mjs");
  await build({ entryPoints: [HARNESS_SOURCE], outfile, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "silent" });
  return outfile;
}

export async function writeScript(dir: string, name: string, body: string, mode = 0o755): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, body);
  await chmod(file, mode);
  return file;
}

export async function waitForFile(file: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await stat(file);
      return;
    } catch {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${file}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** Bytes seen on stdout (counted even when `keepStdout` is false). */
  stdoutBytes: number;
  stderr: string;
}

/** Spawn a process and collect its output; `detached` gives it its own session (no controlling terminal). */
export function start(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdio?: StdioOptions; detached?: boolean; keepStdout?: boolean } = {},
): { pid: number; write: (data: string) => void; done: Promise<Finished> } {
  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: opts.stdio ?? ["pipe", "pipe", "pipe"], detached: opts.detached ?? false });
  const keep = opts.keepStdout ?? true;
  let stdout = "";
  let stdoutBytes = 0;
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdoutBytes += d.length;
    if (keep) stdout += d.toString("utf8");
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stdoutBytes, stderr }));
  });
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  return { pid: child.pid, write: (data) => child.stdin?.write(data), done };
}
