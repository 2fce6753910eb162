import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPolicyDir } from "../../src/adapters/policy-files.js";
import { runPolicyTests } from "../../src/core/policy/test-runner.js";
import { simulate } from "../../src/core/simulate.js";

/**
 * The shipped example end to end, the way `guard policy test` runs it: the real directory through the
 * real adapter (trust checks included), then every case of policies/*.test.yaml through detectTarget +
 * evaluate. A failing case prints expected and actual side by side.
 */
const EXAMPLE = join(import.meta.dirname, "..", "..", "policies");

describe("the example policy in policies/", () => {
  it("loads with zero errors and zero warnings, rooted at the repository top level", async () => {
    const { policy, warnings, tests } = await loadPolicyDir(EXAMPLE, { tests: true });
    expect(warnings).toEqual([]);
    expect(policy.root).toBe(join(EXAMPLE, ".."));
    expect(Object.keys(policy.environments).sort()).toEqual(["development", "production", "staging"]);
    expect(tests.length).toBeGreaterThanOrEqual(15);
  });

  it("passes its own policy test suite", async () => {
    const { policy, tests } = await loadPolicyDir(EXAMPLE, { tests: true });
    // Outside the year-end freeze unless a case says otherwise; cases with their own `now` use it.
    const now = Date.parse("2026-06-01T12:00:00Z");
    const results = runPolicyTests(policy, tests, now, (p, c, at) =>
      simulate(p, { argv: c.run, env: c.env, host: c.host, kubeContext: c.kubeContext, declared: c.declaredEnv, now: at }),
    );
    const failed = results.filter((r) => !r.passed).map((r) => `${r.name} (${r.at.file}:${r.at.line}):\n  ${r.failures.join("\n  ")}`);
    expect(failed).toEqual([]);
  });
});
