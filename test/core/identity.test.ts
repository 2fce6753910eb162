import { describe, expect, it } from "vitest";
import { identityChanges, judgeIdentity, probeSubject } from "../../src/core/identity.js";
import { runProbe, PROBE_OUTPUT_CAP } from "../../src/adapters/identity-probe.js";
import { simulate } from "../../src/core/simulate.js";
import type { Detection, IdentityProbe, Policy } from "../../src/core/types.js";
import { fixturePolicy, NOW } from "./policy-fixture.js";

const probe = (over: Partial<IdentityProbe> = {}): IdentityProbe => ({ command: ["sh", "-c", "echo x"], matcher: { kind: "equals", value: "elb-stg-21c9" }, timeoutSeconds: 5, ...over });

function withIdentity(): Policy {
  const p = fixturePolicy();
  p.environments.staging!.identity = [probe()];
  p.environments.production!.identity = [probe({ matcher: { kind: "glob", pattern: "elb-prod-*" } })];
  return p;
}
const staging: Detection = { environment: "staging", evidence: [{ source: "env", subject: "DATABASE_URL", value: "x", environment: "staging", detail: "d" }], problems: [] };

describe("judgeIdentity (E22)", () => {
  const policy = withIdentity();
  it("an answer that matches is evidence for the environment", () => {
    const d = judgeIdentity(policy, staging, [{ ok: true, output: "elb-stg-21c9" }]);
    expect(d.environment).toBe("staging");
    expect(d.problems).toEqual([]);
    expect(d.evidence.at(-1)).toMatchObject({ source: "identity", subject: probeSubject(0, probe()), value: "elb-stg-21c9", environment: "staging" });
  });

  it("another environment's answer is refused, showing the answer and naming that environment", () => {
    const d = judgeIdentity(policy, staging, [{ ok: true, output: "elb-prod-7f3a" }]);
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining('the target answered "elb-prod-7f3a"')]);
    expect(d.problems[0]).toContain("that is the identity of production");
  });

  it("an unknown answer is refused without naming anyone; a failed probe refuses", () => {
    expect(judgeIdentity(policy, staging, [{ ok: true, output: "who knows" }]).problems[0]).not.toContain("identity of");
    const failed = judgeIdentity(policy, staging, [{ ok: false, error: "timed out after 5s" }]);
    expect(failed.environment).toBeNull();
    expect(failed.problems[0]).toContain("identity probe failed");
    expect(failed.problems[0]).toContain("timed out after 5s");
  });

  it("an undetermined target is not probed; a target without probes is unchanged", () => {
    const undetermined: Detection = { environment: null, evidence: [], problems: ["x"] };
    expect(judgeIdentity(policy, undetermined, [])).toBe(undetermined);
    const dev: Detection = { environment: "development", evidence: [], problems: [] };
    expect(judgeIdentity(policy, dev, [])).toBe(dev);
  });

  it("identityChanges names a changed, a new and a missing answer", () => {
    const e = (subject: string, value: string) => ({ source: "identity" as const, subject, value, environment: "production", detail: "" });
    expect(identityChanges([e("identity 1: a", "x")], [e("identity 1: a", "x")])).toEqual([]);
    expect(identityChanges([e("identity 1: a", "x")], [e("identity 1: a", "y")])).toEqual(['identity 1: a answered "x" when approved, "y" now']);
    expect(identityChanges([], [e("identity 1: a", "y")])).toHaveLength(1);
    expect(identityChanges([e("identity 1: a", "x")], [])).toHaveLength(1);
  });
});

describe("policy tests supply the answers", () => {
  const policy = withIdentity();
  const inv = { argv: ["scripts/purge-x.sh"], env: { DATABASE_URL: "postgres://staging-db.internal/elb" }, now: NOW };
  it("with the right answer the environment stands; with another's it is refused; without one it is refused", () => {
    expect(simulate(policy, { ...inv, identity: { staging: "elb-stg-21c9" } }).environment).toBe("staging");
    const wrong = simulate(policy, { ...inv, identity: { staging: "elb-prod-1" } });
    expect(wrong.decision).toBe("deny");
    expect(wrong.reasons.join()).toContain("that is the identity of production");
    expect(simulate(policy, inv).reasons.join()).toContain("has no answer in this test case");
  });
});

describe("runProbe: the real process", () => {
  const env = { PATH: process.env.PATH };
  it("trims the answer", async () => {
    expect(await runProbe(probe({ command: ["sh", "-c", "printf '  elb-stg-21c9\\n\\n'"] }), env, "/")).toEqual({ ok: true, output: "elb-stg-21c9" });
  });
  it("caps the output at 4 KiB", async () => {
    const a = await runProbe(probe({ command: ["sh", "-c", "head -c 100000 /dev/zero | tr '\\\\0' x"] }), env, "/");
    expect(a.ok && a.output.length).toBe(PROBE_OUTPUT_CAP);
  });
  it("a non-zero exit, a missing program and a timeout are failures", async () => {
    expect(await runProbe(probe({ command: ["sh", "-c", "echo nope >&2; exit 3"] }), env, "/")).toEqual({ ok: false, error: "exited with status 3: nope" });
    expect((await runProbe(probe({ command: ["/nonexistent/probe"] }), env, "/")).ok).toBe(false);
    const started = Date.now();
    expect(await runProbe(probe({ command: ["sh", "-c", "sleep 30 & sleep 30"], timeoutSeconds: 1 }), env, "/")).toEqual({ ok: false, error: "timed out after 1s" });
    expect(Date.now() - started).toBeLessThan(5000);
  });
  it("gets no stdin and the invocation's environment and directory", async () => {
    const a = await runProbe(probe({ command: ["sh", "-c", 'cat; echo "$GUARD_X $(pwd)"'] }), { ...env, GUARD_X: "from-env" }, "/tmp");
    expect(a).toEqual({ ok: true, output: "from-env /tmp" });
  });
});
