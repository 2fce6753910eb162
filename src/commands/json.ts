/** The stable JSON shapes (fields may be added, never renamed). */
import type { Plan } from "./plan.js";

export function planJson(plan: Plan): Record<string, unknown> {
  const d = plan.decision;
  return {
    decision: d.decision,
    environment: d.environment,
    protected: d.protected,
    evidence: d.evidence,
    rules: d.rules,
    requirements: d.requirements,
    reasons: d.reasons,
    freezes: d.freezes,
    breakGlassAvailable: d.breakGlassAvailable,
    argv: plan.typed,
    program: { given: plan.program.given, path: plan.program.path, relativeToRoot: plan.program.relativeToRoot, via: plan.program.via ?? null },
    policyDigest: plan.policy.digest,
  };
}
