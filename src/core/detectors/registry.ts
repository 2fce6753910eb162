/**
 * Every detector kind guard knows, in the order the policy reference, the JSON Schema and the messages
 * list them. A new kind is a module in this directory and a line here; nothing else names a kind.
 */
import type { Detector, Policy } from "../types.js";
import { argDetector } from "./arg.js";
import { argumentDetector } from "./argument.js";
import { envDetector } from "./env.js";
import { hostDetector } from "./host.js";
import type { DetectionFiles, DetectorKind } from "./kind.js";
import { kubeContextDetector } from "./kube-context.js";

export const DETECTORS: readonly DetectorKind[] = [envDetector, kubeContextDetector, hostDetector, argDetector, argumentDetector];

const BY_TYPE: ReadonlyMap<string, DetectorKind> = new Map(DETECTORS.map((k) => [k.type, k]));

/** The kind of a detector (or of a piece of evidence's source); undefined for "declared", "default" and "identity". */
export function kindOf(type: string): DetectorKind | undefined {
  return BY_TYPE.get(type);
}

/** What a policy test case can simulate for the kinds (the host name, the kube context), by field name. */
export const SIMULATED = DETECTORS.flatMap((k) => (k.simulation ? [k.simulation] : [])).sort((a, b) => (a.field < b.field ? -1 : 1));

/** "`a`, `b` or `c`". */
export function oneOf(items: readonly string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** Whether any detector of the policy uses a regex (then detection needs the RE2 engine: core/linear-regex.ts). */
export function detectorsUseRegex(policy: Policy): boolean {
  return Object.values(policy.environments).some((e) => e.detect.some((d) => "matcher" in d && d.matcher?.kind === "regex"));
}

/** What the adapters must read before detecting the target of `args` (kubeconfigs, pg_service.conf files). */
export function detectionFiles(policy: Policy, args: readonly string[], env: Readonly<Record<string, string | undefined>>, home: string): DetectionFiles {
  const out: DetectionFiles = {};
  for (const kind of DETECTORS) {
    const mine: Detector[] = Object.values(policy.environments).flatMap((e) => e.detect.filter((d) => d.type === kind.type));
    if (mine.length > 0 && kind.files) Object.assign(out, kind.files(mine, args, env, home));
  }
  return out;
}

/** The invocation's variables the policy's detectors read. */
export function detectorVariables(policy: Policy): string[] {
  const names = new Set<string>();
  for (const e of Object.values(policy.environments)) for (const d of e.detect) for (const v of kindOf(d.type)?.variables?.(d) ?? []) names.add(v);
  return [...names];
}
