/**
 * `- kube_context: "prod-*"`: kubectl's current context, as kubectl chooses it (`--context`, else the first
 * kubeconfig in load order that sets one; src/core/kube.ts). The adapter reads the kubeconfig files this
 * kind names; a file it cannot read fails closed.
 */
import { compileGlob } from "../glob.js";
import { effectiveKubeContext, kubeconfigPaths, type KubeContext } from "../kube.js";
import { quoteValue } from "../names.js";
import type { Detector } from "../types.js";
import type { DetectorKind } from "./kind.js";
import { INSENSITIVE } from "./values.js";

declare module "../types.js" {
  interface DetectorShapes {
    /** kubectl's current context (after KUBECONFIG merge rules and --context/--kubeconfig in argv). */
    kube_context: { pattern: string };
  }
  interface SimulatedInputs {
    /** kubectl's current context (a policy test case's `kube_context`). */
    kubeContext?: string;
  }
}

type KubeDetector = Extract<Detector, { type: "kube_context" }>;

export const kubeContextDetector: DetectorKind<KubeDetector> = {
  type: "kube_context",
  matcher: "none",
  examples: ["kube_context"],

  read(kit) {
    const pattern = kit.glob("`kube_context`");
    return pattern === null ? null : { type: "kube_context", pattern, at: kit.at };
  },

  schema: ({ z, glob }) => [z.strictObject({ kube_context: glob.describe("kubectl's current context (after KUBECONFIG merge rules), as a glob, e.g. \"prod-*\".") })],

  label: (e) => `kube context ${quoteValue(e.value)}`,

  files: (_detectors, args, env, home) => ({ kubeconfigs: kubeconfigPaths(args, env, home).paths }),

  simulation: {
    field: "kube_context",
    key: "kubeContext",
    description: "kubectl's current context.",
    apply: (value, input) => ({ ...input, kubeconfigs: [{ path: "(test case kube_context)", currentContext: value }] }),
  },

  start(sink) {
    const input = sink.input;
    let kube: KubeContext | undefined;
    let recognised = false;
    return {
      detect(d, environment) {
        kube ??= effectiveKubeContext(input.args, input.kubeconfigs, input.program ?? []);
        if (kube.context !== undefined && compileGlob(d.pattern, INSENSITIVE)(kube.context)) {
          recognised = true;
          sink.add({
            source: "kube_context",
            subject: kube.source,
            value: kube.context,
            environment,
            detail: `kube context ${quoteValue(kube.context)} (from ${kube.source}) matches "${d.pattern}"`,
          });
        }
      },
      settle() {
        if (kube?.problem !== undefined) {
          sink.add({ source: "kube_context", subject: "kubeconfig", value: "", environment: null, detail: kube.problem }, kube.problem);
        }
        for (const p of kube?.evidenceProblems ?? []) sink.add({ source: "kube_context", subject: "kubectl", value: "", environment: null, detail: p }, p);
      },
      unrecognised() {
        if (kube?.context !== undefined && !recognised) {
          sink.unrecognised({ source: "kube_context", subject: kube.source, value: kube.context }, `kube context ${quoteValue(kube.context)} (from ${kube.source})`);
        }
      },
    };
  },
};
