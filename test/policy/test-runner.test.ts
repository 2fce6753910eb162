/**
 * The policy test runner, with a small stand-in evaluator (the unit's seam: the CLI passes the real
 * detectTarget + evaluate; example-policy.test.ts runs the real ones).
 */
import { describe, expect, it } from "vitest";
import { runPolicyTests, type EvaluateCase } from "../../src/core/policy/test-runner.js";
import type { PolicyTestCase } from "../../src/core/policy/types.js";
import type { Decision } from "../../src/core/types.js";
import { VALID, parseOne } from "./helpers.js";

const policy = parseOne(VALID).policy!;

const decision = (d: Partial<Decision>): Decision => ({
  decision: "allow",
  environment: "production",
  protected: true,
  evidence: [],
  rules: [],
  requirements: [],
  reasons: [],
  freezes: [],
  breakGlassAvailable: false,
  ...d,
});

const testCase = (name: string, expect: PolicyTestCase["expect"], extra: Partial<PolicyTestCase> = {}): PolicyTestCase => ({
  name,
  run: ["maintenance/purge-lb-state.sh"],
  env: {},
  expect,
  at: { file: "policies/guard.test.yaml", line: 3, col: 11 },
  ...extra,
});

/** Decides by the test's name, so each case can get the decision it needs. */
const byName =
  (table: Record<string, Decision>): EvaluateCase =>
  (_p, c) =>
    table[c.name]!;

describe("runPolicyTests", () => {
  it("passes a case whose decision, environment, rules and reasons all match", () => {
    const [r] = runPolicyTests(policy, [testCase("ok", { decision: "deny", environment: "production", rules: ["b", "a"], reasonsContain: ["freeze"] })], 0, () =>
      decision({ decision: "deny", rules: ["a", "b"], reasons: ['freeze "year-end" is in force'] }),
    );
    expect(r).toMatchObject({ name: "ok", passed: true, failures: [], actual: { decision: "deny", environment: "production", rules: ["a", "b"] } });
  });

  it.each([
    ["decision", { decision: "approval" as const }, decision({ decision: "deny", reasons: ["target undetermined"] }), ["decision: expected approval, got deny", "  because: target undetermined"]],
    ["environment", { decision: "allow" as const, environment: "production" }, decision({ environment: null }), ["environment: expected production, got none (undetermined)"]],
    ["rules", { decision: "allow" as const, rules: ["a", "b"] }, decision({ rules: ["b", "c"] }), ["rules: expected [a, b], got [b, c] (missing a; unexpected c)"]],
    ["an empty rules list", { decision: "allow" as const, rules: [] }, decision({ rules: ["x"] }), ["rules: expected [], got [x] (unexpected x)"]],
    ["reasons", { decision: "deny" as const, reasonsContain: ["pipeline"] }, decision({ decision: "deny", reasons: ["no rule allows it"] }), ['reasons: none contains "pipeline"; got "no rule allows it"']],
  ])("reports a %s mismatch as expected vs actual", (_name, expect_, actual, failures) => {
    const [r] = runPolicyTests(policy, [testCase("t", expect_)], 0, () => actual);
    expect(r!.passed).toBe(false);
    expect(r!.failures).toEqual(failures);
    expect(r!.expected).toEqual(expect_);
  });

  it("checks only what a case states", () => {
    const [r] = runPolicyTests(policy, [testCase("t", { decision: "allow" })], 0, () => decision({ environment: "staging", rules: ["x"], reasons: ["y"] }));
    expect(r!.passed).toBe(true);
  });

  it("an evaluator that throws fails that case only, with the error", () => {
    const results = runPolicyTests(policy, [testCase("boom", { decision: "allow" }), testCase("fine", { decision: "allow" })], 0, (_p, c) => {
      if (c.name === "boom") throw new Error("kubeconfig unreadable");
      return decision({});
    });
    expect(results.map((r) => [r.name, r.passed])).toEqual([
      ["boom", false],
      ["fine", true],
    ]);
    expect(results[0]).toMatchObject({ actual: null, error: "kubeconfig unreadable", failures: ["evaluation failed: kubeconfig unreadable"] });
  });

  it("evaluates each case at its own `now` when it has one, else at the runner's", () => {
    const seen: number[] = [];
    runPolicyTests(policy, [testCase("a", { decision: "allow" }, { now: 5 }), testCase("b", { decision: "allow" })], 99, (_p, _c, now) => {
      seen.push(now);
      return decision({});
    });
    expect(seen).toEqual([5, 99]);
  });

  it("keeps the cases' order and locations, and passes the policy through", () => {
    const seenPolicies = new Set<unknown>();
    const results = runPolicyTests(policy, [testCase("x", { decision: "allow" }), testCase("y", { decision: "deny" })], 0, (p, c) => {
      seenPolicies.add(p);
      return byName({ x: decision({}), y: decision({ decision: "deny" }) })(p, c, 0);
    });
    expect(results.map((r) => `${r.name}@${r.at.line}:${r.passed}`)).toEqual(["x@3:true", "y@3:true"]);
    expect([...seenPolicies]).toEqual([policy]);
  });
});
