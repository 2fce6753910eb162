/**
 * Running a preview (src/core/preview.ts): as the requester, in the invocation's working directory and
 * environment, with no stdin, within its timeout, in its own process group (a timeout kills the whole
 * group). Output: stdout then stderr, at most PREVIEW_MAX_BYTES kept. A preview that cannot start, exits
 * non-zero, is killed by a signal or runs out of time refuses (77): an approver must never be shown a
 * preview that did not work.
 */
import { childProcess } from "./child-process.js";
import { deniedError } from "../core/errors.js";
import { escapeForTerminal as esc, quoteArgv } from "../core/escape.js";
import { formatDuration } from "../core/duration.js";
import { PREVIEW_MAX_BYTES, expandPreview } from "../core/preview.js";
import type { PreviewResult, PreviewSpec } from "../core/types.js";

export interface PreviewRun {
  rule: string;
  spec: PreviewSpec;
  /** The program as the run executes it. */
  program: string;
  /** The run's arguments (after argv[0]). */
  args: readonly string[];
  cwd: string;
  env: Record<string, string | undefined>;
  /** Run the preview as this uid/gid (the bastion's invoking user; see run-as.ts). */
  uid?: number;
  gid?: number;
  /** What a failure means for the person, e.g. "no request was made". */
  consequence: string;
}

export async function runPreview(p: PreviewRun): Promise<PreviewResult> {
  const argv = expandPreview(p.spec, p.program, p.args);
  const shown = quoteArgv(argv);
  const started = Date.now();
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; out: Buffer; err: Buffer; error?: string }>((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let child;
    try {
      child = childProcess().spawn(argv[0]!, argv.slice(1), { cwd: p.cwd, env: p.env, stdio: ["ignore", "pipe", "pipe"], detached: true, uid: p.uid, gid: p.gid });
    } catch (e) {
      resolve({ code: null, signal: null, timedOut: false, out: Buffer.alloc(0), err: Buffer.alloc(0), error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const keep = (list: Buffer[], d: Buffer, had: number): number => {
      if (had <= PREVIEW_MAX_BYTES) list.push(d.subarray(0, PREVIEW_MAX_BYTES + 1 - had));
      return had + d.length;
    };
    child.stdout.on("data", (d: Buffer) => (outBytes = keep(out, d, outBytes)));
    child.stderr.on("data", (d: Buffer) => (errBytes = keep(err, d, errBytes)));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, p.spec.timeoutSeconds * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, timedOut, out: Buffer.concat(out), err: Buffer.concat(err), error: e.message });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, out: Buffer.concat(out), err: Buffer.concat(err) });
    });
  });
  const all = Buffer.concat([outcome.out, outcome.err]);
  const truncated = all.length > PREVIEW_MAX_BYTES;
  const output = new TextDecoder("utf-8").decode(all.subarray(0, PREVIEW_MAX_BYTES));
  const hint = "fix the preview (it must succeed as a dry run of exactly this run), or ask an SRE to change the rule's require.preview";
  const tail = output.split("\n").filter((l) => l !== "").slice(-5).map((l) => `  ${esc(l)}`);
  if (outcome.timedOut) {
    throw deniedError(`the preview of rule ${p.rule} (${shown}) did not finish within ${formatDuration(p.spec.timeoutSeconds)}: ${p.consequence}`, hint, tail);
  }
  if (outcome.error !== undefined) throw deniedError(`the preview of rule ${p.rule} (${shown}) could not be started: ${esc(outcome.error)}; ${p.consequence}`, hint);
  if (outcome.signal !== null || outcome.code !== 0) {
    const how = outcome.signal !== null ? `was killed by ${outcome.signal}` : `exited with status ${outcome.code}`;
    throw deniedError(`the preview of rule ${p.rule} (${shown}) ${how} after ${Date.now() - started} ms: ${p.consequence}`, hint, tail);
  }
  return { rule: p.rule, argv, exitCode: 0, output, truncated };
}
