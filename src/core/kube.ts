import type { KubeconfigFile } from "./types.js";

/**
 * kubectl's loading rules, as pure functions over argv, the environment and the files the adapter read
 * (k8s.io/client-go/tools/clientcmd, ClientConfigLoadingRules). Guard must reach the same context kubectl
 * will, or detection lies (SECURITY E7, E8).
 */

/** Values of `--name=V` / `--name V` in args, in order. A trailing `--name` without a value is skipped. */
function flagValues(args: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === name) {
      const next = args[i + 1];
      if (next !== undefined) values.push(next);
      i++;
    } else if (a.startsWith(`${name}=`)) {
      values.push(a.slice(name.length + 1));
    }
  }
  return values;
}

/**
 * The kubeconfig files kubectl would load:
 * - `--kubeconfig F` in args: exactly that file, no merging (kubectl's ExplicitPath; the last one given
 *   wins, as for any pflag string flag; an empty value means "not given", as in client-go);
 * - else KUBECONFIG, split on ':' with empty entries and later duplicates dropped. A non-empty KUBECONFIG
 *   whose entries are all empty (":") loads nothing; it does not fall back to the default file;
 * - else `$HOME/.kube/config`.
 */
export function kubeconfigPaths(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  home: string,
): { paths: string[]; explicit: boolean } {
  const explicit = flagValues(args, "--kubeconfig").at(-1);
  if (explicit !== undefined && explicit !== "") return { paths: [explicit], explicit: true };
  const list = env.KUBECONFIG;
  if (list !== undefined && list !== "") {
    const seen = new Set<string>();
    const paths: string[] = [];
    for (const p of list.split(":")) {
      if (p === "" || seen.has(p)) continue;
      seen.add(p);
      paths.push(p);
    }
    return { paths, explicit: false };
  }
  return { paths: [`${home.replace(/\/+$/, "")}/.kube/config`], explicit: false };
}

/** `--context=X` / `--context X` in args (the last one, as kubectl); an empty value counts as absent. */
export function contextFromArgs(args: readonly string[]): string | undefined {
  const value = flagValues(args, "--context").at(-1);
  return value === undefined || value === "" ? undefined : value;
}

export interface KubeContext {
  context?: string;
  /** Where the context came from: "--context", a kubeconfig path, or "none". */
  source: string;
  /** Set when detection must fail closed (an unreadable kubeconfig). */
  problem?: string;
}

/**
 * The context kubectl will use: `--context` wins; else the FIRST file in load order that sets a non-empty
 * current-context (client-go merges maps first-wins; @kubernetes/client-node once took the last, #579).
 * A file that exists but cannot be parsed makes kubectl fail, and makes guard refuse rather than guess.
 */
export function effectiveKubeContext(args: readonly string[], files: readonly KubeconfigFile[]): KubeContext {
  const broken = files.filter((f) => f.error !== undefined);
  const problem =
    broken.length === 0
      ? undefined
      : `cannot tell the Kubernetes context: ${broken.map((f) => `${f.path}: ${f.error}`).join("; ")}; fix or remove the file (kubectl would fail on it too)`;
  const fromArgs = contextFromArgs(args);
  if (fromArgs !== undefined) return withProblem({ context: fromArgs, source: "--context" }, problem);
  for (const f of files) {
    if (f.error === undefined && f.currentContext !== undefined && f.currentContext !== "") {
      return withProblem({ context: f.currentContext, source: f.path }, problem);
    }
  }
  return withProblem({ source: "none" }, problem);
}

function withProblem(k: KubeContext, problem: string | undefined): KubeContext {
  return problem === undefined ? k : { ...k, problem };
}
