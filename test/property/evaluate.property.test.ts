/**
 * Property tests of evaluate() (P12, E9, C6): every rule acts only in its own direction. Removing an allow
 * rule never makes a run more permitted; removing a deny rule never makes it less permitted; removing a
 * require rule never adds a requirement, and can only end in "allow" through an allow rule (without it,
 * a protected target fails closed: a require is a conditional allow). Hence no policy allows, in a
 * protected environment, something that the same policy minus one rule would refuse — unless that rule
 * is an allow that matches the run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluate, ruleMatches } from "../../src/core/evaluate.js";
import type { Decision, Detection, Policy, ResolvedProgram, Rule, RuleEffect } from "../../src/core/types.js";
import { determined, fixturePolicy, onPath, programAt } from "../core/policy-fixture.js";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const rank = (d: Decision): number => ({ allow: 0, approval: 1, deny: 2 })[d.decision];

const PROGRAMS: ResolvedProgram[] = [
  programAt("scripts/purge-lb.sh"),
  programAt("scripts/report-lb.sh"),
  programAt("scripts/sub/purge-x.sh"),
  onPath("/usr/bin/terraform"),
  onPath("/usr/lib/postgresql/bin/pg_wrapper", "psql"),
  onPath("/usr/bin/kubectl", "k"),
];
const ARGS = ["--all", "destroy", "plan", "--force", "--no-dry-run", "a b", "*", "--file=/etc/x"];
const COMMANDS = ["scripts/purge-*.sh", "scripts/**", "scripts/*", "terraform", "psql", "kubectl", "k", "*", "pg_*"];
const ENVS = ["production", "staging", "development"];

const effect: fc.Arbitrary<RuleEffect> = fc.oneof(
  fc.constant<RuleEffect>({ type: "allow" }),
  fc.constant<RuleEffect>({ type: "deny", message: "no" }),
  fc.record({
    approvals: fc.integer({ min: 1, max: 3 }),
    from: fc.option(fc.subarray(["sre", "dba"], { minLength: 1 }), { nil: null }),
    reason: fc.boolean(),
    confirm: fc.boolean(),
    ttlSeconds: fc.constantFrom(600, 1800, 3600),
  }).map((r): RuleEffect => ({ type: "require", ...r })),
);

const rule = (i: number): fc.Arbitrary<Rule> =>
  fc.record({
    environments: fc.option(fc.subarray(ENVS, { minLength: 1 }), { nil: undefined }),
    commands: fc.option(fc.subarray(COMMANDS, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    args: fc.option(fc.subarray(ARGS, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    effect,
  }).map(({ environments, commands, args, effect: e }) => ({
    name: `r${i}`,
    match: { ...(environments ? { environments } : {}), ...(commands ? { commands } : {}), ...(args ? { args } : {}) },
    effect: e,
  }));

const rules = fc.integer({ min: 0, max: 7 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rule(i))));

const undetermined: Detection = { environment: null, evidence: [], problems: [] };
const conflict: Detection = { environment: null, evidence: [], problems: ["conflicting target: staging and production"] };

const invocation = fc.record({
  program: fc.constantFrom(...PROGRAMS),
  args: fc.subarray(ARGS),
  detection: fc.oneof(fc.constantFrom(...ENVS).map(determined), fc.constant(undetermined), fc.constant(conflict)),
  wrapperHidden: fc.option(fc.constant("sh -c"), { nil: undefined }),
});

const policyWith = (rs: Rule[]): Policy => fixturePolicy({ rules: rs, freezes: [] });

describe("evaluate: rules act only in their own direction (property)", () => {
  it("P12: removing any one rule moves the decision only the way that rule's effect allows", () => {
    fc.assert(
      fc.property(rules, invocation, (rs, inv) => {
        const full = evaluate(policyWith(rs), { ...inv, now: NOW });
        rs.forEach((r, i) => {
          const without = evaluate(policyWith(rs.filter((_, j) => j !== i)), { ...inv, now: NOW });
          if (r.effect.type === "allow") {
            expect(rank(without), `removing allow ${r.name} made the run more permitted`).toBeGreaterThanOrEqual(rank(full));
          } else if (r.effect.type === "deny") {
            expect(rank(without), `removing deny ${r.name} made the run less permitted`).toBeLessThanOrEqual(rank(full));
          } else {
            expect(without.requirements.map((q) => q.rule)).toEqual(full.requirements.map((q) => q.rule).filter((n) => n !== r.name));
            if (without.decision === "allow" && without.protected) {
              expect(rs.some((x) => x.effect.type === "allow" && without.rules.includes(x.name))).toBe(true);
            }
          }
          // The security reading: allowed with the rule, refused without it ⇒ it is a matching allow.
          if (full.decision === "allow" && without.decision !== "allow") {
            expect(r.effect.type).toBe("allow");
            expect(full.rules).toContain(r.name);
          }
        });
      }),
      { numRuns: 400 },
    );
  });

  it("P12: in a protected or unknown target, an allow always names a matching allow rule and never a deny", () => {
    fc.assert(
      fc.property(rules, invocation, (rs, inv) => {
        const d = evaluate(policyWith(rs), { ...inv, now: NOW });
        if (!d.protected || d.decision !== "allow") return;
        const matching = rs.filter((r) => d.rules.includes(r.name));
        expect(matching.some((r) => r.effect.type === "allow")).toBe(true);
        expect(matching.some((r) => r.effect.type === "deny")).toBe(false);
        expect(d.environment).not.toBeNull();
        expect(inv.detection.problems).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it("E1/E5/P12: an undetermined or conflicting target is never allowed, whatever the rules", () => {
    fc.assert(
      fc.property(rules, invocation, (rs, inv) => {
        const d = evaluate(policyWith(rs), { ...inv, detection: inv.detection.environment === null ? inv.detection : conflict, now: NOW });
        expect(d.decision).toBe("deny");
        expect(d.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it("the matched rules are exactly those ruleMatches() accepts (no rule is silently skipped)", () => {
    fc.assert(
      fc.property(rules, invocation, (rs, inv) => {
        const d = evaluate(policyWith(rs), { ...inv, now: NOW });
        const env = inv.detection.problems.length === 0 ? inv.detection.environment : null;
        expect(d.rules).toEqual(rs.filter((r) => ruleMatches(r, env, inv.program, inv.args)).map((r) => r.name));
      }),
      { numRuns: 200 },
    );
  });
});
