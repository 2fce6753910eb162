/**
 * Previews (issue 14): a dry run a rule attaches to its requirement (`require.preview`), executed as the
 * requester when the request is made, stored in the signed request, shown to approvers, and — with
 * `recheck: true` — executed again just before exec and compared, so that "would delete 12 rows"
 * approved is never "would delete 12,000,000 rows" run. Pure: the adapter runs the command.
 */
import { escapeForTerminal } from "./escape.js";
import type { PreviewResult, PreviewSpec } from "./types.js";

/** Most output stored (stdout then stderr, bytes); more is cut and the cut is shown. */
export const PREVIEW_MAX_BYTES = 64 * 1024;
export const PREVIEW_DEFAULT_TIMEOUT_SECONDS = 30;
export const PREVIEW_MIN_TIMEOUT_SECONDS = 1;
export const PREVIEW_MAX_TIMEOUT_SECONDS = 600;

/**
 * The preview's argv for one run: an element exactly `{program}` becomes the program as the run would
 * execute it (the path through its link when it has one), `{args}` the run's arguments, each its own
 * element; every other element is taken literally (no shell, no substitution inside text).
 */
export function expandPreview(spec: PreviewSpec, program: string, args: readonly string[]): string[] {
  return spec.command.flatMap((e) => (e === "{program}" ? [program] : e === "{args}" ? [...args] : [e]));
}

/** Whether two runs of a preview read the same: the command, the exit status and every byte of output. */
export function samePreview(a: PreviewResult, b: PreviewResult): boolean {
  return a.rule === b.rule && a.exitCode === b.exitCode && a.truncated === b.truncated && a.output === b.output && a.argv.length === b.argv.length && a.argv.every((x, i) => x === b.argv[i]);
}

/**
 * The first lines where two outputs differ, escaped, for the refusal: at most `max` pairs, with the line
 * number, so the person sees what changed without a full diff.
 */
export function previewDifference(approved: PreviewResult, now: PreviewResult, max = 5): string[] {
  const out: string[] = [];
  if (approved.exitCode !== now.exitCode) out.push(`exit status: approved ${approved.exitCode}, now ${now.exitCode}`);
  const a = approved.output.split("\n");
  const b = now.output.split("\n");
  let shown = 0;
  for (let i = 0; i < Math.max(a.length, b.length) && shown < max; i++) {
    if (a[i] === b[i]) continue;
    shown++;
    out.push(`line ${i + 1}:`, `  approved: ${a[i] === undefined ? "(no line)" : escapeForTerminal(a[i]!)}`, `  now:      ${b[i] === undefined ? "(no line)" : escapeForTerminal(b[i]!)}`);
  }
  if (approved.truncated !== now.truncated) out.push(`output cut at ${PREVIEW_MAX_BYTES} bytes: approved ${approved.truncated ? "yes" : "no"}, now ${now.truncated ? "yes" : "no"}`);
  return out;
}
