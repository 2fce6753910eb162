/**
 * Derive, never trust (SECURITY R1–R4). A request carries the rules, requirements, protection and
 * break-glass flag its requester's guard computed — but the requester signs those fields and can also
 * write the store, so they are only claims. What decides is the CURRENT policy's evaluation of the
 * invocation the request binds: this module recomputes it from the bound fields alone (argv, the
 * program's real path and its place under the policy root, the environment) and names every claim that
 * differs. Pure: the policy and the time are parameters.
 *
 * Why the bound fields suffice: at run time every one of them is re-derived from the real invocation and
 * compared byte for byte (compareBinding) before anything runs, so a request whose claimed invocation is
 * not the real one never gets that far; and for the invocation it does bind, the same policy always gives
 * the same rules and requirements (freezes depend on the time, but only decide allow/deny, never which
 * approvals are needed).
 */
import { posix } from "node:path";
import { canonicalJson } from "./canonical.js";
import { evaluate } from "./evaluate.js";
import { unwrapCommand } from "./wrappers.js";
import type { Decision, GuardRequest, Policy, ResolvedProgram } from "./types.js";

/** The program as the policy sees it, rebuilt from what the request binds. */
export function boundProgram(policy: Pick<Policy, "root">, req: Pick<GuardRequest, "argv" | "program">): ResolvedProgram {
  const run = unwrapCommand(req.argv);
  const given = run.argv[0] ?? req.argv[0] ?? "";
  const path = req.program.path;
  const relativeToRoot = req.program.relative !== undefined ? req.program.relative : relativeInside(policy.root, path);
  return { given, path, relativeToRoot, base: posix.basename(path), givenBase: posix.basename(given) };
}

/** `file` relative to `root` with '/' separators, or null when outside it (as the program adapter computes it). */
export function relativeInside(root: string, file: string): string | null {
  if (!posix.isAbsolute(root) || !posix.isAbsolute(file)) return null;
  const rel = posix.relative(root, file);
  if (rel === "" || rel === ".." || rel.startsWith("../") || posix.isAbsolute(rel)) return null;
  return rel;
}

/**
 * The current policy's decision for the invocation a request binds, with the target it claims. (The
 * target claim is checked against the real invocation at run time, like every other bound field.)
 */
export function deriveDecision(policy: Policy, req: GuardRequest, now: number): Decision {
  const run = unwrapCommand(req.argv);
  return evaluate(policy, {
    program: boundProgram(policy, req),
    args: run.argv.slice(1),
    detection: { environment: req.environment.name, evidence: req.environment.evidence, problems: [] },
    now,
    wrapperHidden: run.hidden,
  });
}

/** A claim of the request that the derivation does not give. */
export type ClaimField = "rules" | "requirements" | "environment.protected";

/**
 * The claimed fields that differ from the derivation. Requirements are compared whole (rule, count,
 * groups, reason, confirmation, lifetime) and in order: for one policy and one invocation a genuine
 * guard always writes exactly the derived list.
 */
export function claimDifferences(req: GuardRequest, derived: Decision): ClaimField[] {
  const out: ClaimField[] = [];
  if (canonicalJson(req.rules) !== canonicalJson(derived.rules)) out.push("rules");
  if (canonicalJson(req.requirements) !== canonicalJson(derived.requirements)) out.push("requirements");
  if (req.environment.protected !== derived.protected) out.push("environment.protected");
  return out;
}
