/**
 * Evaluate an invocation described entirely by data (a policy test case), with no filesystem: the same
 * detectTarget + evaluate path `guard run` takes, with the program resolved the way the policy sees it.
 * A program with a '/' is taken relative to the policy root; one without is a bare command name.
 */
import { posix } from "node:path";
import { detectTarget, declaredEnvProblem } from "./detect.js";
import { evaluate } from "./evaluate.js";
import type { RegexCompiler } from "./linear-regex.js";
import { hiddenByProgram, unwrapCommand } from "./wrappers.js";
import { judgeIdentity, probesFor, type ProbeAnswer } from "./identity.js";
import { SIMULATED } from "./detectors/registry.js";
import type { Decision, DetectionInput, Policy, ResolvedProgram, SimulatedInputs } from "./types.js";
import type { PolicyTestCase } from "./policy/types.js";

/** An invocation as data; what the adapters would read for the detectors is given (SimulatedInputs: host, kube context). */
export interface SimulatedInvocation extends SimulatedInputs {
  argv: string[];
  env: Record<string, string>;
  /** The answers the identity probes give, per environment; an environment with probes and no answer here refuses. */
  identity?: Record<string, string>;
  declared?: string;
  now: number;
  /** The RE2 engine, for a policy with detector regexes. */
  regex?: RegexCompiler;
}

export function simulatedProgram(policy: Policy, given: string): ResolvedProgram {
  const givenBase = posix.basename(given);
  if (!given.includes("/")) return { given, path: given, relativeToRoot: null, base: given, givenBase };
  const rel = posix.normalize(given).replace(/^(\.\/)+/, "");
  const inside = !rel.startsWith("../") && !posix.isAbsolute(rel);
  const path = posix.isAbsolute(rel) ? rel : posix.join(policy.root, rel);
  return { given, path, relativeToRoot: inside ? rel : null, base: posix.basename(rel), givenBase };
}

export function simulate(policy: Policy, inv: SimulatedInvocation): Decision {
  const unwrapped = unwrapCommand(inv.argv);
  const argv = unwrapped.wrapper && unwrapped.argv.length > 0 ? unwrapped.argv : inv.argv;
  const env = { ...inv.env, ...unwrapped.env };
  const args = argv.slice(1);
  const declaredProblem = inv.declared !== undefined ? declaredEnvProblem(policy, inv.declared) : null;
  const program = simulatedProgram(policy, argv[0] ?? "");
  let input: DetectionInput = { args, env, host: "", kubeconfigs: [], declared: inv.declared, regex: inv.regex, program: [program.base, program.givenBase] };
  for (const s of SIMULATED) {
    const given = inv[s.key];
    if (given !== undefined) input = s.apply(given, input);
  }
  const detection = detectTarget(policy, input);
  const probes = probesFor(policy, detection);
  const answer = detection.environment === null ? undefined : inv.identity?.[detection.environment];
  const judged = judgeIdentity(
    policy,
    detection,
    probes.map((): ProbeAnswer => (answer === undefined ? { ok: false, error: "has no answer in this test case (add `identity: { <environment>: <answer> }`)" } : { ok: true, output: answer })),
    inv.regex,
  );
  const wrapperHidden = unwrapped.hidden ?? hiddenByProgram(program, args);
  const decision = evaluate(policy, { program, args, detection: judged, now: inv.now, wrapperHidden });
  if (declaredProblem) return { ...decision, decision: "deny", reasons: [declaredProblem, ...decision.reasons] };
  return decision;
}

/** A policy test case (`*.test.yaml`), simulated at `now`: what `guard policy test` runs. */
export function simulateTestCase(policy: Policy, tc: PolicyTestCase, now: number, regex?: RegexCompiler): Decision {
  const given: SimulatedInputs = {};
  for (const s of SIMULATED) if (tc[s.key] !== undefined) given[s.key] = tc[s.key];
  return simulate(policy, { ...given, argv: tc.run, env: tc.env, identity: tc.identity, declared: tc.declaredEnv, now, regex });
}
