import type { Node } from "yaml";
import { SIMULATED } from "../detectors/registry.js";
import type { DecisionKind, SimulatedInputs, SourceLocation } from "../types.js";
import { SPECS } from "./fields.js";
import type { Field, Reader, YNode } from "./reader.js";
import { readTimestamp } from "./read-values.js";
import type { PolicyTestCase, PolicyTestExpectation } from "./types.js";

/** A test case with where its expectations name environments and rules, for cross-checks against the policy. */
export interface TestCaseDef {
  testCase: PolicyTestCase;
  environmentAt?: SourceLocation;
  ruleRefs: { name: string; at: SourceLocation }[];
}

/**
 * Read a `*.test.yaml` file: `tests:` (a list of cases), optional `version: 1`, and an optional top-level
 * `now:` that cases without their own `now` use (so a suite does not depend on the day it runs).
 */
export function readTestFile(root: Node, r: Reader): TestCaseDef[] {
  const map = r.map(root, "a policy test file");
  if (!map) return [];
  const f = r.fields(map, SPECS.testFile);
  const version = f.get("version");
  if (version) {
    const v = r.count(version);
    if (v !== null && v !== 1) r.error(version.value, "unsupported-version", `\`version\` must be 1, not ${v}`, "this guard reads policy format version 1");
  }
  const nowF = f.get("now");
  const fileNow = nowF ? readTimestamp(r, nowF) : null;
  const tests = f.get("tests");
  if (!tests) return [];
  const out: TestCaseDef[] = [];
  const names = new Map<string, SourceLocation>();
  for (const item of r.objects(tests) ?? []) {
    const def = readCase(r, item, fileNow);
    if (!def) continue;
    const seen = names.get(def.testCase.name);
    if (seen) r.error(item, "duplicate-test", `two tests are named ${JSON.stringify(def.testCase.name)} (also at line ${seen.line})`, "give every test a distinct name so failures can be told apart");
    else names.set(def.testCase.name, def.testCase.at);
    out.push(def);
  }
  return out;
}

function readCase(r: Reader, node: YNode, fileNow: number | null): TestCaseDef | null {
  const map = r.map(node, "a test case");
  if (!map) return null;
  const f = r.fields(map, SPECS.testCase);
  const nameF = f.get("name");
  const name = nameF ? r.text(nameF, "the test name") : null;
  const at = r.loc(nameF?.value ?? map);

  const runF = f.get("run");
  const run = runF ? r.list(runF, "`run`", { item: "an argument of `run`" }) : null;
  if (run && run[0] && run[0].value === "") r.error(run[0].node, "empty-value", "the program (first item of `run`) must not be empty", "e.g. `run: [maintenance/purge-lb-state.sh, --region, eu-west-1]`");

  const env: Record<string, string> = Object.create(null);
  const envF = f.get("env");
  if (envF) {
    for (const e of r.records(envF, "variable")) {
      const v = e.name === null ? null : r.check(e.value, e.type, `the value of \`${e.name}\``);
      if (e.name !== null && v !== null) env[e.name] = v as string;
    }
  }
  const optString = (field: string, what: string): string | undefined => {
    const x = f.get(field);
    return x ? (r.text(x, what) ?? undefined) : undefined;
  };
  // What the detector kinds read from the machine (a host name, a kube context), given instead.
  const simulated: SimulatedInputs = {};
  for (const s of SIMULATED) {
    const v = optString(s.field, `\`${s.field}\``);
    if (v !== undefined) simulated[s.key] = v;
  }
  const declaredEnv = optString("declared_env", "`declared_env`");
  let identity: Record<string, string> | undefined;
  const identityF = f.get("identity");
  if (identityF) {
    identity = Object.create(null) as Record<string, string>;
    for (const e of r.records(identityF, "an environment name")) {
      const v = e.name === null ? null : r.check(e.value, e.type, `the identity answer of \`${e.name}\``);
      if (e.name !== null && v !== null) identity[e.name] = v as string;
    }
  }
  const nowF = f.get("now");
  const now = nowF ? readTimestamp(r, nowF) : fileNow;

  const expectF = f.get("expect");
  const expect = expectF ? readExpect(r, expectF) : null;
  if (name === null || !run || !expect) return null;
  const testCase: PolicyTestCase = {
    name,
    run: run.map((a) => a.value),
    env,
    ...simulated,
    ...(identity !== undefined ? { identity } : {}),
    ...(declaredEnv !== undefined ? { declaredEnv } : {}),
    ...(now !== null ? { now } : {}),
    expect: expect.value,
    at,
  };
  return { testCase, ...(expect.environmentAt ? { environmentAt: expect.environmentAt } : {}), ruleRefs: expect.ruleRefs };
}

function readExpect(r: Reader, field: Field): { value: PolicyTestExpectation; environmentAt?: SourceLocation; ruleRefs: TestCaseDef["ruleRefs"] } | null {
  const map = r.mapping(field);
  if (!map) return null;
  const f = r.fields(map, SPECS.expect);
  const decF = f.get("decision");
  const decision = decF ? r.text(decF, "`decision`", { noun: "a decision", code: "bad-decision" }) : null;
  if (decision === null) return null;
  const value: PolicyTestExpectation = { decision: decision as DecisionKind };
  let environmentAt: SourceLocation | undefined;
  const envF = f.get("environment");
  if (envF) {
    const e = r.text(envF);
    if (e !== null) {
      value.environment = e;
      environmentAt = r.loc(envF.value);
    }
  }
  const ruleRefs: TestCaseDef["ruleRefs"] = [];
  const rulesF = f.get("rules");
  if (rulesF) {
    // An empty list is meaningful here: "no rule matches".
    const items = r.list(rulesF, "`rules`", { item: "a rule name" });
    if (items) {
      value.rules = items.map((i) => i.value);
      for (const i of items) ruleRefs.push({ name: i.value, at: r.loc(i.node) });
    }
  }
  const reasonsF = f.get("reasons_contain");
  if (reasonsF) {
    const items = r.list(reasonsF);
    if (items) value.reasonsContain = items.map((i) => i.value);
  }
  return { value, ...(environmentAt ? { environmentAt } : {}), ruleRefs };
}
