import { compileGlob, isLiteralGlob } from "./glob.js";
import type { Decision, Detection, Policy, Requirement, ResolvedProgram, Rule } from "./types.js";

/**
 * The decision for one invocation: deny over require over allow; in a protected environment what no rule
 * allows is denied. Pure: time is a parameter, the target comes from detectTarget().
 *
 * Matching, and why:
 * - `environments`: canonical names; a rule that names environments never matches an undetermined target.
 * - `commands`: a glob with a '/' is matched against the program's real path relative to the policy root
 *   (`*` stays within one directory, `**` spans them; no match when the program is outside the root).
 *   A glob without '/' is matched against the base name of the real path AND the base name as typed;
 *   either counts, so a symlink can never dodge a rule: `k -> kubectl` still reads as kubectl (real
 *   name), and a deny on `psql` still catches Debian's `psql -> pg_wrapper` (typed name). Command globs
 *   are case-sensitive, like the file systems the programs live on.
 * - `args`: each glob must match at least one single argument, never the space-joined command line
 *   (SECURITY C7, C8: `["a b"]` is not `["a", "b"]`; `*`, `;`, `$(…)` in an argument are plain text).
 *   Argument globs are case-sensitive (`--Force` is not `--force` to most programs) and `*` crosses '/'
 *   (arguments are not paths to the matcher: `--file=*` must cover `--file=/etc/x` and `--file=../x`).
 *   An args list is a presence test: extra arguments never stop a rule from matching (C6), so put
 *   restrictions in deny/require rules, not in the args of an allow.
 */
export interface EvaluateInput {
  program: ResolvedProgram;
  args: string[];
  detection: Detection;
  /** Epoch milliseconds. */
  now: number;
  /** Set by unwrapCommand() when a wrapper hides the command that would really run. */
  wrapperHidden?: string;
}

const PATH_GLOB = { caseInsensitive: false, slashSensitive: true } as const;
const ARG_GLOB = { caseInsensitive: false, slashSensitive: false } as const;

export function evaluate(policy: Policy, input: EvaluateInput): Decision {
  const { program, args, detection, now } = input;
  const env = detection.environment;
  const environment = env === null ? undefined : policy.environments[env];
  const targetKnown = environment !== undefined && detection.problems.length === 0;
  const isProtected = targetKnown ? environment.protected : true;

  const matching = policy.rules.filter((r) => ruleMatches(r, targetKnown ? env : null, program, args));
  const reasons: string[] = [];

  if (!targetKnown) {
    if (detection.problems.length > 0) reasons.push(...detection.problems);
    else if (env !== null) reasons.push(`environment ${env} is not defined in the policy`);
    else reasons.push("target undetermined");
  }

  const freezes = targetKnown
    ? policy.freezes.filter((f) => f.environments.includes(env as string) && f.from <= now && now < f.until)
    : [];
  const breakGlassAvailable = targetKnown && (policy.breakGlass?.environments.includes(env as string) ?? false);
  for (const f of freezes) {
    const glass = breakGlassAvailable ? "; break-glass is available (--break-glass, audited)" : "";
    reasons.push(`freeze "${f.name}" is in force for ${env} until ${new Date(f.until).toISOString()}: ${f.reason}${glass}`);
  }

  if (input.wrapperHidden !== undefined) {
    const allowedExplicitly = matching.some(
      (r) => r.effect.type === "allow" && (r.match.commands ?? []).some((g) => isLiteralGlob(g) && commandMatches(g, program, true)),
    );
    if (!allowedExplicitly) {
      reasons.push(
        `wrapper hides target: ${input.wrapperHidden}; run the command directly, or ask for an allow rule naming ${program.givenBase} exactly`,
      );
    }
  }

  for (const r of matching) if (r.effect.type === "deny") reasons.push(`${r.effect.message} (rule ${r.name})`);

  const requirements: Requirement[] = matching.flatMap((r) =>
    r.effect.type === "require"
      ? [{ rule: r.name, approvals: r.effect.approvals, from: r.effect.from, reason: r.effect.reason, confirm: r.effect.confirm, ttlSeconds: r.effect.ttlSeconds, ...(r.effect.preview ? { preview: { ...r.effect.preview, command: [...r.effect.preview.command] } } : {}) }]
      : [],
  );

  let decision: Decision["decision"];
  if (reasons.length > 0) decision = "deny";
  else if (requirements.length > 0) decision = "approval";
  else if (matching.some((r) => r.effect.type === "allow")) decision = "allow";
  else if (isProtected) {
    decision = "deny";
    reasons.push(`no rule allows this command in protected environment ${env} (fail closed)`);
  } else decision = "allow";

  return {
    decision,
    environment: targetKnown ? env : null,
    protected: isProtected,
    evidence: detection.evidence,
    rules: matching.map((r) => r.name),
    requirements,
    reasons,
    freezes: freezes.map((f) => f.name),
    breakGlassAvailable,
  };
}

export function ruleMatches(rule: Rule, env: string | null, program: ResolvedProgram, args: readonly string[]): boolean {
  const m = rule.match;
  if (m.environments !== undefined && (env === null || !m.environments.includes(env))) return false;
  // An allow must name the program that really runs: a symlink named `report-x.sh` pointing at anything
  // else must not borrow an allow. Deny and require also match the name as typed (stricter, never weaker).
  const realOnly = rule.effect.type === "allow";
  if (m.commands !== undefined && !m.commands.some((g) => commandMatches(g, program, realOnly))) return false;
  if (m.args !== undefined && !m.args.every((g) => args.some(compileGlob(g, ARG_GLOB)))) return false;
  return true;
}

export function commandMatches(glob: string, program: ResolvedProgram, realOnly = false): boolean {
  const match = compileGlob(glob, PATH_GLOB);
  if (glob.includes("/")) return program.relativeToRoot !== null && match(program.relativeToRoot);
  return match(program.base) || (!realOnly && match(program.givenBase));
}
