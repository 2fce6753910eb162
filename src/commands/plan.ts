/**
 * Plan first, act second: everything guard decides about an invocation, computed without running it.
 * `check` prints a plan, `request` signs one, `run` executes one. The decision itself is the pure core's
 * (detectTarget + evaluate); this module only gathers the inputs from the edges.
 */
import { resolveProgram } from "../adapters/program.js";
import { readKubeconfigs } from "../adapters/kubeconfig.js";
import { regexEngineFor } from "../adapters/linear-regex.js";
import { declaredEnvProblem, detectTarget } from "../core/detect.js";
import { detectionFiles } from "../core/detectors/registry.js";
import { readPgServiceFiles } from "../adapters/pg-service.js";
import { probeTarget } from "../adapters/identity-probe.js";
import { evaluate } from "../core/evaluate.js";
import { hiddenByProgram, unwrapCommand } from "../core/wrappers.js";
import { adminVariables } from "../core/credentials.js";
import { usageError } from "../core/errors.js";
import type { Decision, Detection, KubeconfigFile, Policy, ResolvedProgram } from "../core/types.js";
import type { Context } from "./context.js";

export interface Plan {
  /**
   * The command as typed, `env NAME=VALUE` prefixes included: what a request binds and signs, what the
   * approver is shown and what the audit log records. `unwrapCommand(typed)` gives `argv`.
   */
  typed: string[];
  /** The command guard executes: `typed` with `env` prefixes unwrapped (their assignments are in childEnv). */
  argv: string[];
  program: ResolvedProgram;
  policy: Policy;
  detection: Detection;
  decision: Decision;
  /**
   * The command's environment: the invocation's, plus `env VAR=x` assignments unwrapped, minus the
   * variables that hold guard's own credential sources.
   */
  childEnv: Record<string, string | undefined>;
}

export async function planRun(ctx: Context, argv: string[], declared: string | undefined, now: number): Promise<Plan> {
  if (argv.length === 0 || argv[0] === "") throw usageError("no command given", "usage: guard run [options] -- CMD [ARGS…]");
  // `env VAR=x cmd …` is unwrapped: guard applies the assignments itself and plans (and runs) `cmd …`,
  // so the assignments take part in detection and the program that is matched is the one that runs.
  // The prefix stays in `typed`, which is what is bound, shown and audited.
  // Other wrappers (sh -c, sudo, xargs, …) hide their command and are refused by evaluate().
  const typed = [...argv];
  const unwrapped = unwrapCommand(argv);
  if (unwrapped.wrapper) {
    if (unwrapped.argv.length === 0) throw usageError(`\`${argv[0]}\` with no command to run`);
    argv = unwrapped.argv;
  }
  const childEnv: Record<string, string | undefined> = { ...ctx.env, ...unwrapped.env };
  // Not found / not executable is found out before anything else happens.
  const program = await resolveProgram(argv[0]!, { cwd: ctx.cwd, path: childEnv.PATH, policyRoot: ctx.policyRoot });
  const { policy } = await ctx.policy();
  if (declared !== undefined) {
    const problem = declaredEnvProblem(policy, declared);
    if (problem) throw usageError(problem, `environments in this policy: ${describeEnvironments(policy)}`);
  }
  const args = argv.slice(1);
  // The detectors say which files they need (core/detectors); reading them is the adapters'.
  const files = detectionFiles(policy, args, childEnv, ctx.home);
  const kubeconfigs: KubeconfigFile[] = files.kubeconfigs ? await readKubeconfigs(files.kubeconfigs, ctx.settings.policyCache) : [];
  const names = [program.base, program.givenBase];
  const pgServiceFiles = files.pgServiceFiles ? await readPgServiceFiles(childEnv, ctx.home) : undefined;
  const regex = await regexEngineFor(policy);
  const detected = detectTarget(policy, { args, env: childEnv, host: ctx.host, kubeconfigs, declared, program: names, pgServiceFiles, regex });
  // Ask the detected target who it is (the policy's identity probes), all at once, before deciding.
  const detection = await probeTarget(policy, detected, childEnv, ctx.cwd, regex);
  // Wrappers are judged by what really runs too: a symlink to bash, busybox applets, the dynamic loader.
  const wrapperHidden = unwrapped.hidden ?? hiddenByProgram(program, args);
  const decision = evaluate(policy, { program, args, detection, now, wrapperHidden });
  // guard's own credential sources (credentials.postgres.admin: env:NAME) are neither bound into a
  // request, not even by digest, nor passed to any child.
  for (const name of adminVariables(policy)) delete childEnv[name];
  return { typed, argv, program, policy, detection, decision, childEnv };
}

export function describeEnvironments(policy: Policy): string {
  return Object.values(policy.environments)
    .map((e) => (e.aliases.length ? `${e.name} (${e.aliases.join(", ")})` : e.name))
    .join(", ");
}

/** What a refusal of this plan records in the audit log (run.refused). */
export function refusalData(plan: Plan, exitCode: number): Record<string, unknown> {
  return {
    argv: plan.typed,
    program: plan.program.path,
    environment: plan.decision.environment,
    reasons: plan.decision.reasons,
    evidence: plan.decision.evidence,
    rules: plan.decision.rules,
    exitCode,
  };
}
