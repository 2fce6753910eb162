import type { Decision, DecisionKind, Policy, SourceLocation } from "../types.js";
import type { PolicyTestCase, PolicyTestExpectation } from "./types.js";

/** Evaluates one test case against a policy at a time; the CLI wires detectTarget + evaluate in here. */
export type EvaluateCase = (policy: Policy, testCase: PolicyTestCase, now: number) => Decision;

export interface PolicyTestResult {
  name: string;
  at: SourceLocation;
  passed: boolean;
  /** One line per mismatch, e.g. "decision: expected approval, got deny"; empty when passed. */
  failures: string[];
  expected: PolicyTestExpectation;
  /** What the policy decided; null when evaluation itself failed (see `error`). */
  actual: { decision: DecisionKind; environment: string | null; rules: string[]; reasons: string[] } | null;
  error?: string;
}

/**
 * Run policy test cases. Each case is evaluated at its own `now` when it has one, else at `now`. A case
 * whose evaluation throws fails (with the error) instead of stopping the suite: SREs need every
 * mismatch at once, with expected and actual side by side, to fix their policy.
 */
export function runPolicyTests(policy: Policy, cases: readonly PolicyTestCase[], now: number, evaluateCase: EvaluateCase): PolicyTestResult[] {
  return cases.map((c) => {
    const base = { name: c.name, at: c.at, expected: c.expect };
    let decision: Decision;
    try {
      decision = evaluateCase(policy, c, c.now ?? now);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      return { ...base, passed: false, failures: [`evaluation failed: ${error}`], actual: null, error };
    }
    const actual = { decision: decision.decision, environment: decision.environment, rules: [...decision.rules], reasons: [...decision.reasons] };
    const failures = compare(c.expect, actual);
    return { ...base, passed: failures.length === 0, failures, actual };
  });
}

function compare(expect: PolicyTestExpectation, actual: NonNullable<PolicyTestResult["actual"]>): string[] {
  const out: string[] = [];
  if (expect.decision !== actual.decision) {
    out.push(`decision: expected ${expect.decision}, got ${actual.decision}`);
    if (actual.reasons.length > 0) out.push(`  because: ${actual.reasons.join("; ")}`);
  }
  if (expect.environment !== undefined && expect.environment !== actual.environment) {
    out.push(`environment: expected ${expect.environment}, got ${actual.environment ?? "none (undetermined)"}`);
  }
  if (expect.rules !== undefined) {
    const want = [...new Set(expect.rules)].sort();
    const got = [...new Set(actual.rules)].sort();
    if (want.join("\n") !== got.join("\n")) {
      const missing = want.filter((r) => !got.includes(r));
      const extra = got.filter((r) => !want.includes(r));
      const detail = [missing.length ? `missing ${missing.join(", ")}` : "", extra.length ? `unexpected ${extra.join(", ")}` : ""].filter(Boolean).join("; ");
      out.push(`rules: expected [${want.join(", ")}], got [${got.join(", ")}] (${detail})`);
    }
  }
  for (const text of expect.reasonsContain ?? []) {
    if (!actual.reasons.some((r) => r.includes(text))) {
      out.push(`reasons: none contains ${JSON.stringify(text)}; got ${actual.reasons.length ? actual.reasons.map((r) => JSON.stringify(r)).join(", ") : "no reasons"}`);
    }
  }
  return out;
}
