import type { Diagnostic } from "../errors.js";
import type { Policy, RuleMatch } from "../types.js";
import { diagnosticAt } from "./diagnostics.js";
import { eligiblePrincipals } from "./merge.js";
import type { RuleDef } from "./read-policy-file.js";

/**
 * Warnings about a valid policy that probably does not say what its author meant (shown by `guard policy
 * lint`): rules that can never change a decision, thresholds that lock group members out of their own
 * runs, protected environments that nothing detects.
 */
export function lintPolicy(policy: Policy, rules: readonly RuleDef[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  rules.forEach((later, j) => {
    const shadow = rules.slice(0, j).find((earlier) => earlier.rule.effect.type === "deny" && covers(earlier.rule.match, later.rule.match));
    if (shadow) {
      out.push(
        diagnosticAt("warning", later.at, "shadowed-rule", `rule \`${later.rule.name}\` can never change a decision: the deny rule \`${shadow.rule.name}\` (${shadow.at.file}:${shadow.at.line}) matches every run it matches`, "narrow or remove one of the two rules"),
      );
    }
    const effect = later.rule.effect;
    if (effect.type === "require" && later.approvalsAt) {
      const eligible = eligiblePrincipals(policy.principals, effect.from);
      if (effect.approvals === eligible.length) {
        out.push(
          diagnosticAt("warning", later.approvalsAt, "approvals-whole-group", `rule \`${later.rule.name}\` needs ${effect.approvals} approvals from exactly ${eligible.length} eligible principals (${eligible.join(", ")}): none of them can ever get their own run approved`, "lower `approvals` or add principals, so that a member's run can still collect enough approvals from others"),
        );
      }
    }
  });
  for (const env of Object.values(policy.environments)) {
    if (env.protected && env.detect.length === 0 && env.at) {
      out.push(diagnosticAt("warning", env.at, "protected-undetectable", `protected environment \`${env.name}\` has no detectors, so guard only knows it is the target when someone says so with --env`, "add `detect:` entries (DATABASE_URL, AWS_PROFILE, kube_context, host, ...) that recognise it"));
    }
  }
  return out;
}

/** Whether every run that `b` matches is also matched by `a` (conservatively: false when unsure). */
function covers(a: RuleMatch, b: RuleMatch): boolean {
  const envs = !a.environments || (!!b.environments && b.environments.every((e) => a.environments!.includes(e)));
  const commands = !a.commands || (!!b.commands && b.commands.every((c) => a.commands!.includes(c) || a.commands!.includes("**") || (!c.includes("/") && a.commands!.includes("*"))));
  // `b` requires each of its args globs to match; if `a`'s globs are among them, whatever matches `b` matches `a`.
  const args = !a.args || (!!b.args && a.args.every((g) => b.args!.includes(g)));
  return envs && commands && args;
}
