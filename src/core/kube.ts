import type { KubeconfigFile } from "./types.js";

/**
 * kubectl's loading rules, as pure functions over argv, the environment and the files the adapter read
 * (k8s.io/client-go/tools/clientcmd, ClientConfigLoadingRules). Guard must reach the same context kubectl
 * will, or detection lies (SECURITY E7, E8).
 */

/**
 * Values of `--name=V` / `--name V` in args, in order. A trailing `--name` without a value is skipped.
 * A `--` ends kubectl's flags (pflag): what follows belongs to the remote command
 * (`kubectl exec pod -- sh -c '… --context=staging'`), so it is never read as kubectl's own.
 */
function flagValues(args: readonly string[], name: string, short?: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") break;
    if (short !== undefined && a.startsWith(short) && !a.startsWith("--")) {
      if (a === short) {
        const next = args[i + 1];
        if (next !== undefined) values.push(next);
        i++;
      } else values.push(a.slice(short.length).replace(/^=/, ""));
      continue;
    }
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
  /** kubectl flags that point it somewhere other than the context's cluster (each fails closed). */
  evidenceProblems?: string[];
}

/**
 * kubectl's flags that keep the context's name but change where it goes: `--server`/`-s` and `--cluster`
 * replace the cluster, `--user` the credentials. Guard identifies clusters by context, so a run that
 * overrides them is a target it cannot name: refused. `--namespace` stays within the cluster and is only
 * shown. Only read before a `--`.
 */
export function kubectlOverrides(args: readonly string[]): string[] {
  const out: string[] = [];
  const flags: [string, string | undefined, string][] = [
    ["--server", "-s", "the API server"],
    ["--cluster", undefined, "the cluster"],
    ["--user", undefined, "the user (credentials)"],
  ];
  for (const [long, short, what] of flags) {
    for (const v of flagValues(args, long, short)) {
      if (v === "") continue;
      out.push(
        `kubectl ${long} ${JSON.stringify(v)} replaces ${what} of the context, so the context's name no longer says which cluster is reached; drop ${long} and select a context (--context) that the policy's kube_context detectors recognise`,
      );
    }
  }
  return out;
}

/**
 * The context kubectl will use: `--context` wins; else the FIRST file in load order that sets a non-empty
 * current-context (client-go merges maps first-wins; @kubernetes/client-node once took the last, #579).
 * A file that exists but cannot be parsed makes kubectl fail, and makes guard refuse rather than guess.
 */
export function effectiveKubeContext(args: readonly string[], files: readonly KubeconfigFile[], programNames: readonly string[] = []): KubeContext {
  const overrides = programNames.includes("kubectl") ? kubectlOverrides(args) : [];
  const k = contextOf(args, files);
  return overrides.length === 0 ? k : { ...k, evidenceProblems: overrides };
}

function contextOf(args: readonly string[], files: readonly KubeconfigFile[]): KubeContext {
  const broken = files.filter((f) => f.error !== undefined);
  const problem =
    broken.length === 0
      ? undefined
      : `cannot tell the Kubernetes context: ${broken.map((f) => `${f.path}: ${f.error}`).join("; ")}; fix or replace the file: guard does not guess which cluster kubectl would reach`;
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
