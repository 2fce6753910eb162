import { DETECTORS, detectorsUseRegex, kindOf } from "./detectors/registry.js";
import type { DetectionSink } from "./detectors/kind.js";
import { normaliseEnvName, quoteValue } from "./names.js";
import type { Detection, DetectionInput, Evidence, Policy } from "./types.js";

/** How evidence shows a value (secrets redacted): the detector kinds share it. */
export { redactValue } from "./detectors/values.js";

/**
 * Which environment a command will really hit, from the detectors the policy declares. Every source that
 * says something becomes Evidence; the target is determined only when all of it agrees on exactly one
 * environment. Anything doubtful (a conflict, a value that matches only after trimming or case-folding,
 * an unreadable kubeconfig, a flag naming no environment) is a problem, and a problem is a refusal.
 * A flag never overrides detection (SECURITY E5): `--env` is one more piece of evidence.
 *
 * What each kind of detector looks at, and how, is its module's (src/core/detectors); this is what they
 * have in common: evidence, problems, conflicts and the default environment.
 */

/** Problems caused by an invalid `--env` start with this, so the CLI can exit 64 instead of 77. */
export const DECLARED_ENV_PROBLEM = "invalid --env value";

/** The usage problem with a declared `--env`, or null when it names an environment. Check this first. */
export function declaredEnvProblem(policy: Policy, raw: string): string | null {
  const r = normaliseEnvName(policy, raw);
  return r.ok ? null : `${DECLARED_ENV_PROBLEM}: ${r.reason}`;
}

/** Whether any detector of the policy uses a regex (then detection needs the RE2 engine: core/linear-regex.ts). */
export const policyUsesRegex = (policy: Policy): boolean =>
  detectorsUseRegex(policy) || Object.values(policy.environments).some((e) => (e.identity ?? []).some((p) => p.matcher.kind === "regex"));

export function detectTarget(policy: Policy, input: DetectionInput): Detection {
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  /** Evidence shown for the record but not allowed to decide (an AWS profile overridden by credentials). */
  const overridden = new Set<Evidence>();
  const add = (e: Evidence, problem?: string): void => {
    // Two detectors reading the same value (AWS_PROFILE and AWS_DEFAULT_PROFILE share the profile readings) say it once.
    const same = (x: Evidence): boolean =>
      x.source === e.source && x.subject === e.subject && x.value === e.value && x.environment === e.environment && x.detail === e.detail;
    if (!evidence.some(same)) evidence.push(e);
    if (problem !== undefined && !problems.includes(problem)) problems.push(problem);
  };

  if (input.declared !== undefined) {
    const r = normaliseEnvName(policy, input.declared);
    const detail = r.ok
      ? `--env ${quoteValue(input.declared)}${r.name === input.declared ? "" : ` names ${r.name}`}`
      : r.reason;
    add(
      { source: "declared", subject: "--env", value: input.declared, environment: r.ok ? r.name : null, detail },
      r.ok ? undefined : `${DECLARED_ENV_PROBLEM}: ${r.reason}`,
    );
  }

  // A subject that is present but that no detector recognises makes the target undetermined: the
  // default_environment is for "nothing here says anything", never for "something here we do not know".
  const unrecognised = (e: Omit<Evidence, "environment" | "detail">, what: string): void => {
    const p = `target undetermined: ${what} is set, but no environment's detector recognises it (default_environment applies only when no detector's subject is present); add it to the detect list of the environment it belongs to, or unset it`;
    add({ ...e, environment: null, detail: p }, p);
  };
  const sink: DetectionSink = {
    policy,
    input,
    add,
    addOverridden: (e) => {
      overridden.add(e);
      add(e);
    },
    unrecognised,
  };
  const sessions = DETECTORS.map((kind) => kind.start(sink));
  const sessionOf = new Map(DETECTORS.map((kind, i) => [kind.type, sessions[i]!]));
  for (const env of Object.values(policy.environments)) {
    for (const d of env.detect) sessionOf.get(d.type)?.detect(d, env.name);
  }
  for (const s of sessions) s.settle?.();
  for (const s of sessions) s.unrecognised?.();

  const deciding = evidence.filter((e) => !overridden.has(e));
  const environments = [...new Set(deciding.flatMap((e) => (e.environment === null ? [] : [e.environment])))];
  if (environments.length > 1) problems.push(conflict(deciding));

  if (environments.length === 0) {
    for (const s of sessions) {
      const p = s.undetermined?.();
      if (p !== undefined) problems.push(p);
    }
  }

  if (environments.length === 0 && problems.length === 0 && !deciding.some((e) => e.environment === null)) {
    const fallback = policy.defaultEnvironment;
    if (fallback !== undefined && policy.environments[fallback] !== undefined) {
      evidence.push({
        source: "default",
        subject: "default_environment",
        value: fallback,
        environment: fallback,
        detail: "no detector matched and no --env was given: the policy's default_environment applies",
      });
      return { environment: fallback, evidence, problems };
    }
    problems.push(
      "target undetermined: no detector matched, no --env was given and the policy has no default_environment; pass --env <environment> or add a detector to the policy",
    );
  }

  const determined = environments.length === 1 && problems.length === 0 && !deciding.some((e) => e.environment === null);
  return { environment: determined ? (environments[0] as string) : null, evidence, problems };
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

function label(e: Evidence): string {
  switch (e.source) {
    case "declared":
      return "--env";
    case "default":
      return "default_environment";
    case "identity":
      return `${e.subject} (the target's answer ${quoteValue(e.value)})`;
    default:
      return kindOf(e.source)!.label(e);
  }
}

/** "conflicting target: --env says staging, but AWS_PROFILE and kube context "prod-1" say production". */
function conflict(evidence: readonly Evidence[]): string {
  const groups = new Map<string, string[]>();
  for (const e of evidence) {
    if (e.environment === null) continue;
    const labels = groups.get(e.environment) ?? [];
    if (!labels.includes(label(e))) labels.push(label(e));
    groups.set(e.environment, labels);
  }
  const claims = [...groups].map(([env, labels]) => `${labels.join(" and ")} ${labels.length > 1 ? "say" : "says"} ${env}`);
  const flag = evidence.some((e) => e.environment !== null && (e.source === "declared" || kindOf(e.source)?.fromFlag === true));
  const why = flag ? "a flag never overrides detection: " : "";
  return `conflicting target: ${claims.join(", but ")}; ${why}make them agree and run again`;
}
