import type { RegexCompiler } from "./linear-regex.js";
import { matchValue } from "./detectors/values.js";
import { quoteValue } from "./names.js";
import type { Detection, Evidence, IdentityProbe, Policy, ValueMatcher } from "./types.js";

/**
 * Live identity: the detected environment's own answer to "who are you?" (PRODUCT.md, `identity`).
 * Detection trusts names (a URL, a context); a probe asks the target itself, so a host alias that looks
 * like staging but reaches the production database is found out before anything runs. Pure: the adapter
 * runs the probes (src/adapters/identity-probe.ts) and hands their answers in.
 *
 * Each answer becomes evidence (bound into the request digest, compared before an approved run): a
 * match says the environment; a mismatch is a refusal that shows what the target said and, when that
 * answer is another environment's identity, names it; a probe that failed or timed out refuses (fail closed).
 */

export type ProbeAnswer = { ok: true; output: string } | { ok: false; error: string };

/** How a probe is named in evidence and messages: `identity 1: sh -c "psql …"`. */
export function probeSubject(index: number, probe: IdentityProbe): string {
  return `identity ${index + 1}: ${probe.command.map((a) => (/^[A-Za-z0-9_./=:-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}`;
}

function describeMatcher(m: ValueMatcher): string {
  return m.kind === "equals" ? quoteValue(m.value) : m.kind === "glob" ? `a match for "${m.pattern}"` : `a match for /${m.pattern}/`;
}

/** Probes of the detected environment, or none (an undetermined target is refused anyway). */
export function probesFor(policy: Policy, detection: Detection): IdentityProbe[] {
  if (detection.environment === null || detection.problems.length > 0) return [];
  return policy.environments[detection.environment]?.identity ?? [];
}

/** Environments (other than `except`) whose probe with the same command accepts this answer. */
function answeredAs(policy: Policy, probe: IdentityProbe, output: string, except: string, regex: RegexCompiler | undefined): string[] {
  const key = JSON.stringify(probe.command);
  return Object.values(policy.environments)
    .filter((e) => e.name !== except && (e.identity ?? []).some((p) => JSON.stringify(p.command) === key && matchValue(p.matcher, output, "", output, regex).kind === "match"))
    .map((e) => e.name);
}

/** `regex`: the linear-time engine, given whenever the policy has a regex (policyUsesRegex); without it a regex probe fails closed. */
export function judgeIdentity(policy: Policy, detection: Detection, answers: readonly ProbeAnswer[], regex?: RegexCompiler): Detection {
  const probes = probesFor(policy, detection);
  if (probes.length === 0) return detection;
  const env = detection.environment as string;
  const evidence: Evidence[] = [...detection.evidence];
  const problems: string[] = [];
  probes.forEach((probe, i) => {
    const subject = probeSubject(i, probe);
    const answer = answers[i];
    if (answer === undefined || !answer.ok) {
      const why = answer === undefined ? "was not run" : answer.error;
      const p = `identity probe failed: ${subject} ${why}; the target could not say who it is, so nothing runs (fail closed): check that it is reachable`;
      evidence.push({ source: "identity", subject, value: "", environment: null, detail: p });
      problems.push(p);
      return;
    }
    const m = matchValue(probe.matcher, answer.output, subject, answer.output, regex);
    if (m.kind === "match") {
      evidence.push({ source: "identity", subject, value: answer.output, environment: env, detail: `the target answered ${quoteValue(answer.output)} to ${subject}, as ${env} expects` });
      return;
    }
    const others = answeredAs(policy, probe, answer.output, env, regex);
    const whose = others.length > 0 ? `; that is the identity of ${others.join(" and ")}` : "";
    const p = `identity mismatch: the target answered ${quoteValue(answer.output)} to ${subject}, but ${env} expects ${describeMatcher(probe.matcher)}${whose}: the command would not reach the ${env} it was detected as, so nothing runs`;
    evidence.push({ source: "identity", subject, value: answer.output, environment: others.length === 1 ? (others[0] as string) : null, detail: p });
    problems.push(p);
  });
  return { environment: problems.length === 0 ? env : null, evidence, problems: [...detection.problems, ...problems] };
}

/**
 * Before an approved run consumes its approval: the answers now against the ones bound into the request.
 * Differences are named; an empty list means the target still answers as it did when it was approved.
 */
export function identityChanges(approved: readonly Evidence[], now: readonly Evidence[]): string[] {
  const bound = new Map(approved.filter((e) => e.source === "identity").map((e) => [e.subject, e.value]));
  const out: string[] = [];
  for (const e of now.filter((x) => x.source === "identity")) {
    const before = bound.get(e.subject);
    if (before === undefined) out.push(`${e.subject} was not asked when the request was approved`);
    else if (before !== e.value) out.push(`${e.subject} answered ${quoteValue(before)} when approved, ${quoteValue(e.value)} now`);
    bound.delete(e.subject);
  }
  for (const subject of bound.keys()) out.push(`${subject} was asked when the request was approved but not now`);
  return out;
}
