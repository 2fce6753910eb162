import { compileGlob } from "./glob.js";
import type { RegexCompiler } from "./linear-regex.js";
import { awsProfileReadings } from "./aws.js";
import { effectiveKubeContext, type KubeContext } from "./kube.js";
import { type ConnTarget, connTargets, isPgClient, lookupPgService, parseConnString, pgClientArgs, renderTarget, uriPrefix } from "./libpq.js";
import { asciiLower, normaliseEnvName, quoteValue, skeleton } from "./names.js";
import type { Detection, DetectionInput, Detector, Evidence, Policy, ValueMatcher } from "./types.js";

/**
 * Which environment a command will really hit, from the detectors the policy declares. Every source that
 * says something becomes Evidence; the target is determined only when all of it agrees on exactly one
 * environment. Anything doubtful (a conflict, a value that matches only after trimming or case-folding,
 * an unreadable kubeconfig, a flag naming no environment) is a problem, and a problem is a refusal.
 * A flag never overrides detection (SECURITY E5): `--env` is one more piece of evidence.
 */

/** Problems caused by an invalid `--env` start with this, so the CLI can exit 64 instead of 77. */
export const DECLARED_ENV_PROBLEM = "invalid --env value";

/** The usage problem with a declared `--env`, or null when it names an environment. Check this first. */
export function declaredEnvProblem(policy: Policy, raw: string): string | null {
  const r = normaliseEnvName(policy, raw);
  return r.ok ? null : `${DECLARED_ENV_PROBLEM}: ${r.reason}`;
}

/** Whether the adapters need to read kubeconfigs at all (they load `yaml` only then). */
/** Whether any detector of the policy uses a regex (then detection needs the RE2 engine: core/linear-regex.ts). */
export function policyUsesRegex(policy: Policy): boolean {
  return Object.values(policy.environments).some(
    (e) => e.detect.some((d) => (d.type === "env" || d.type === "arg") && d.matcher?.kind === "regex") || (e.identity ?? []).some((p) => p.matcher.kind === "regex"),
  );
}

export function hasKubeDetector(policy: Policy): boolean {
  return Object.values(policy.environments).some((e) => e.detect.some((d) => d.type === "kube_context"));
}

/** Variables that make the AWS CLI and SDKs ignore AWS_PROFILE (credentials from the environment come first). */
const AWS_CREDENTIAL_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];
const AWS_PROFILE_VARS = new Set(["AWS_PROFILE", "AWS_DEFAULT_PROFILE"]);

export function detectTarget(policy: Policy, input: DetectionInput): Detection {
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  /** Evidence shown for the record but not allowed to decide (an AWS profile overridden by credentials). */
  const overridden = new Set<Evidence>();
  const add = (e: Evidence, problem?: string): void => {
    // Two detectors reading the same value (AWS_PROFILE and AWS_DEFAULT_PROFILE share the profile readings) say it once.
    const same = (x: Evidence): boolean =>
      x.source === e.source && x.subject === e.subject && x.value === e.value && x.environment === e.environment && x.detail === e.detail;
    if (!evidence.some(same)) evidence.push(e);
    if (problem !== undefined && !problems.includes(problem)) problems.push(problem);
  };

  if (input.declared !== undefined) {
    const r = normaliseEnvName(policy, input.declared);
    const detail = r.ok
      ? `--env ${quoteValue(input.declared)}${r.name === input.declared ? "" : ` names ${r.name}`}`
      : r.reason;
    add(
      { source: "declared", subject: "--env", value: input.declared, environment: r.ok ? r.name : null, detail },
      r.ok ? undefined : `${DECLARED_ENV_PROBLEM}: ${r.reason}`,
    );
  }

  const awsCredentials = AWS_CREDENTIAL_VARS.filter((v) => nonEmpty(input.env[v]));
  let kube: KubeContext | undefined;
  const flags = new Map<string, FlagScan>();
  const flagOf = (flag: string): FlagScan => {
    let scan = flags.get(flag);
    if (!scan) {
      scan = scanFlag(input.args, flag);
      flags.set(flag, scan);
      for (const p of scan.problems) {
        add({ source: "arg", subject: flag, value: "", environment: null, detail: p }, p);
      }
    }
    return scan;
  };
  const namedFlagsDone = new Set<string>();
  /** Flags with a matcher, and the values some detector recognised. */
  const matcherFlags = new Map<string, Set<string>>();
  let kubeRecognised = false;
  const readings = new Map<string, Reading[]>();
  const names = input.program ?? [];
  const readingsOf = (variable: string): Reading[] => {
    const key = AWS_PROFILE_VARS.has(variable) ? "(aws profile)" : variable;
    let list = readings.get(key);
    if (list === undefined) {
      list = AWS_PROFILE_VARS.has(variable)
        ? awsProfileReadings(names, input.args, input.env).map((r) => ({ ...r, required: true, recognised: false }))
        : variableReadings(variable, input, names);
      readings.set(key, list);
    }
    return list;
  };
  const emptyReported = new Set<string>();
  let watchesAwsProfile = false;

  for (const env of Object.values(policy.environments)) {
    for (const d of env.detect) {
      switch (d.type) {
        case "env": {
          if (AWS_PROFILE_VARS.has(d.variable)) watchesAwsProfile = true;
          const raw = input.env[d.variable];
          if (raw !== undefined && strip(raw) === "") {
            if (!emptyReported.has(d.variable)) {
              emptyReported.add(d.variable);
              const shown = redactValue(d.variable, raw);
              const p = `${d.variable} is set but empty (${quoteValue(raw)}); tools read that differently (the AWS SDK falls back to its default profile): unset it or give it a value`;
              add({ source: "env", subject: d.variable, value: shown, environment: null, detail: p }, p);
            }
            break;
          }
          for (const r of readingsOf(d.variable)) {
            // Where the value came from: the variable itself, or what stands in for it (psql -h, --profile, a service file).
            const subject = r.via;
            const shown = redactValue(d.variable, r.value);
            const m = matchValue(d.matcher, r.value, r.via, shown, input.regex);
            if (m.kind === "none") continue;
            r.recognised = true;
            if (m.kind !== "match") {
              add({ source: "env", subject, value: shown, environment: null, detail: m.detail }, m.detail);
            } else if (AWS_PROFILE_VARS.has(d.variable) && awsCredentials.length > 0) {
              const e: Evidence = {
                source: "env",
                subject,
                value: shown,
                environment: null,
                detail: `${m.detail} (${env.name}), but ${awsCredentials.join(" and ")} ${awsCredentials.length > 1 ? "are" : "is"} set and the AWS CLI and SDKs use credential variables first: not used`,
              };
              overridden.add(e);
              add(e);
            } else {
              add({ source: "env", subject, value: shown, environment: env.name, detail: m.detail });
            }
          }
          break;
        }
        case "kube_context": {
          kube ??= effectiveKubeContext(input.args, input.kubeconfigs, names);
          if (kube.context !== undefined && compileGlob(d.pattern, INSENSITIVE)(kube.context)) {
            kubeRecognised = true;
            add({
              source: "kube_context",
              subject: kube.source,
              value: kube.context,
              environment: env.name,
              detail: `kube context ${quoteValue(kube.context)} (from ${kube.source}) matches "${d.pattern}"`,
            });
          }
          break;
        }
        case "host":
          if (input.host !== "" && compileGlob(d.pattern, INSENSITIVE)(input.host)) {
            add({
              source: "host",
              subject: "hostname",
              value: input.host,
              environment: env.name,
              detail: `host name ${quoteValue(input.host)} matches "${d.pattern}"`,
            });
          }
          break;
        case "arg":
          if (d.matcher !== undefined && !matcherFlags.has(d.flag)) matcherFlags.set(d.flag, new Set());
          detectArg(policy, d, env.name, flagOf(d.flag), namedFlagsDone, add, input.regex, matcherFlags.get(d.flag));
          break;
        case "argument":
          input.args.forEach((a, i) => {
            if (!compileGlob(d.pattern, INSENSITIVE)(a)) return;
            add({
              source: "argument",
              subject: `argument ${i + 1}`,
              value: redactValue(null, a),
              environment: env.name,
              detail: `argument ${i + 1} matches "${d.pattern}"`,
            });
          });
          break;
      }
    }
  }

  if (kube?.problem !== undefined) {
    add({ source: "kube_context", subject: "kubeconfig", value: "", environment: null, detail: kube.problem }, kube.problem);
  }
  for (const p of kube?.evidenceProblems ?? []) add({ source: "kube_context", subject: "kubectl", value: "", environment: null, detail: p }, p);

  // A subject that is present but that no detector recognises makes the target undetermined: the
  // default_environment is for "nothing here says anything", never for "something here we do not know".
  const unrecognised = (e: Omit<Evidence, "environment" | "detail">, what: string): void => {
    const p = `target undetermined: ${what} is set, but no environment's detector recognises it (default_environment applies only when no detector's subject is present); add it to the detect list of the environment it belongs to, or unset it`;
    add({ ...e, environment: null, detail: p }, p);
  };
  const seen = new Set<string>();
  for (const [key, list] of readings) {
    for (const r of list) {
      if (r.problem !== undefined) {
        add({ source: "env", subject: key, value: redactValue(key, r.value), environment: null, detail: r.problem }, r.problem);
        continue;
      }
      const shown = redactValue(r.via, r.value);
      if (!r.required || r.recognised || seen.has(`${r.via}\0${r.value}`)) continue;
      seen.add(`${r.via}\0${r.value}`);
      unrecognised({ source: "env", subject: r.via, value: shown }, describeReading(r.via, shown));
    }
  }
  if (kube?.context !== undefined && !kubeRecognised) {
    unrecognised({ source: "kube_context", subject: kube.source, value: kube.context }, `kube context ${quoteValue(kube.context)} (from ${kube.source})`);
  }
  for (const [flag, recognised] of matcherFlags) {
    for (const v of flags.get(flag)?.values ?? []) {
      if (!recognised.has(v)) unrecognised({ source: "arg", subject: flag, value: redactValue(null, v) }, `flag ${flag} ${quoteValue(redactValue(null, v))}`);
    }
  }

  const deciding = evidence.filter((e) => !overridden.has(e));
  const environments = [...new Set(deciding.flatMap((e) => (e.environment === null ? [] : [e.environment])))];
  if (environments.length > 1) problems.push(conflict(deciding));

  if (environments.length === 0 && awsCredentials.length > 0 && watchesAwsProfile) {
    const profiles = [...AWS_PROFILE_VARS].filter((v) => input.env[v] !== undefined);
    const what =
      profiles.length > 0 ? `they override ${profiles.map((v) => `${v}=${quoteValue(input.env[v] ?? "")}`).join(" and ")}` : "the policy identifies AWS targets by profile";
    problems.push(
      `AWS credential variables are set (${awsCredentials.join(", ")}); ${what}; add a detector for AWS_ACCESS_KEY_ID or unset them`,
    );
  }

  if (environments.length === 0 && problems.length === 0 && !deciding.some((e) => e.environment === null)) {
    const fallback = policy.defaultEnvironment;
    if (fallback !== undefined && policy.environments[fallback] !== undefined) {
      evidence.push({
        source: "default",
        subject: "default_environment",
        value: fallback,
        environment: fallback,
        detail: "no detector matched and no --env was given: the policy's default_environment applies",
      });
      return { environment: fallback, evidence, problems };
    }
    problems.push(
      "target undetermined: no detector matched, no --env was given and the policy has no default_environment; pass --env <environment> or add a detector to the policy",
    );
  }

  const determined = environments.length === 1 && problems.length === 0 && !deciding.some((e) => e.environment === null);
  return { environment: determined ? (environments[0] as string) : null, evidence, problems };
}

const INSENSITIVE = { caseInsensitive: true, slashSensitive: false } as const;

// ---------------------------------------------------------------------------------------------
// Readings: what a variable's detectors are held against
// ---------------------------------------------------------------------------------------------

/**
 * One value a client will use for a detector's variable. A variable can have several: a connection string
 * reaches each of its servers; a PostgreSQL client's own arguments override PGHOST and friends; the AWS
 * clients disagree on which profile variable wins. Every reading is evidence, and they must agree.
 */
interface Reading {
  value: string;
  /** Where it came from, for messages: "DATABASE_URL", "DATABASE_URL (server 2 of 2, as libpq reads it)", "psql -h". */
  via: string;
  /** False for the raw spelling of a connection string whose servers are read separately: evidence when it matches, never "unrecognised". */
  required: boolean;
  recognised: boolean;
  /** Set when the value cannot be read the way its client reads it (fails closed). */
  problem?: string;
}

/** Variables whose detectors also see a PostgreSQL client's own connection arguments. */
const PG_TARGET_VARIABLES: Readonly<Record<string, keyof ReturnType<typeof targetParts>>> = {
  PGHOST: "host",
  PGHOSTADDR: "hostaddr",
  PGPORT: "port",
  PGDATABASE: "dbname",
  PGUSER: "user",
  PGSERVICE: "service",
  DATABASE_URL: "url",
};

/** Whether detection needs the pg_service.conf files: a PG detector, and a service named somewhere. */
export function needsPgServiceFiles(policy: Policy, args: readonly string[], env: Readonly<Record<string, string | undefined>>): boolean {
  const watched = Object.values(policy.environments).some((e) => e.detect.some((d) => d.type === "env" && d.variable in PG_TARGET_VARIABLES));
  const named = nonEmpty(env.PGSERVICE) || args.some((a) => a.includes("service=")) || Object.keys(PG_TARGET_VARIABLES).some((v) => env[v]?.includes("service="));
  return watched && named;
}

/**
 * Readings from a named service, as libpq fills in what the connection string left unset from it (before
 * the PG* variables: a service file's host beats PGHOST). Held against the same detectors.
 */
function serviceReadings(name: string, part: keyof ReturnType<typeof targetParts>, via: string, input: DetectionInput): Reading[] {
  if (part === "service") return [reading(name, via)];
  const found = lookupPgService(input.pgServiceFiles ?? [], name);
  const where = `${via} service "${name}"`;
  if (found instanceof Error) return [{ ...reading(name, where), problem: `${where}: ${found.message}; libpq would refuse it too` }];
  const targets = connTargets(found.params);
  if (targets instanceof Error) return [{ ...reading(name, where), problem: `${where} (${found.path}): ${targets.message}` }];
  return targets.flatMap((t) => {
    const v = targetParts(t, undefined)[part];
    return v === "" || (part === "url" && t.host === "" && t.hostaddr === "") ? [] : [reading(v, `${where} in ${found.path}`)];
  });
}

function variableReadings(variable: string, input: DetectionInput, names: readonly string[]): Reading[] {
  const out: Reading[] = [];
  const raw = input.env[variable];
  const part = PG_TARGET_VARIABLES[variable];
  if (raw !== undefined && strip(raw) !== "") {
    out.push(...connReadings(raw, variable));
    const parsed = parseConnString(raw);
    if (part !== undefined && (parsed.kind === "uri" || parsed.kind === "conninfo") && parsed.params.service !== undefined) {
      out.push(...serviceReadings(parsed.params.service, part, variable, input));
    }
  }
  if (part !== undefined && part !== "service" && nonEmpty(input.env.PGSERVICE)) {
    out.push(...serviceReadings(input.env.PGSERVICE as string, part, "PGSERVICE", input));
  }
  const client = names.find(isPgClient);
  if (part !== undefined && client !== undefined) {
    for (const a of pgClientArgs(client, input.args)) {
      const via = `${client} ${a.at}`;
      if (a.key === "conn") {
        const parsed = parseConnString(a.value);
        if (parsed.kind === "error") {
          out.push({ value: a.value, via, required: true, recognised: false, problem: `${via} is a connection string libpq rejects (${parsed.error}); fix it` });
          continue;
        }
        if (parsed.kind === "dbname") continue;
        const targets = connTargets(parsed.params);
        if (targets instanceof Error) {
          out.push({ value: a.value, via, required: true, recognised: false, problem: `${via}: ${targets.message}` });
          continue;
        }
        if (part === "url") out.push(...connReadings(a.value, via));
        if (parsed.params.service !== undefined) out.push(...serviceReadings(parsed.params.service, part, via, input));
        if (part !== "url" && part !== "service") {
          for (const t of targets) {
            const v = targetParts(t, uriPrefix(a.value))[part];
            if (v !== "") out.push(reading(v, `${via} (${part})`));
          }
        }
        continue;
      }
      const values = a.key === "host" ? a.value.split(",") : [a.value];
      for (const v of values) {
        if (part === "url") {
          if (a.key === "host" && v !== "") out.push(reading(renderTarget({ host: v, hostaddr: "", port: "", dbname: "", user: "" }), via));
        } else if (a.key === part && v !== "") out.push(reading(v, via));
      }
    }
  }
  return dedupe(out);
}

/** `DATABASE_URL="…" (server 2 of 2, as libpq reads it)`, `psql -h "db7"`: a reading as a person reads it. */
function describeReading(via: string, shown: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?: \((.*)\))?$/.exec(via);
  if (m) return `${m[1]}=${quoteValue(shown)}${m[2] === undefined ? "" : ` (${m[2]})`}`;
  return `${via} ${quoteValue(shown)}`;
}

function reading(value: string, via: string): Reading {
  return { value, via, required: true, recognised: false };
}

function targetParts(t: ConnTarget, scheme: string | undefined): Record<"host" | "hostaddr" | "port" | "dbname" | "user" | "url" | "service", string> {
  return { host: t.host, hostaddr: t.hostaddr, port: t.port, dbname: t.dbname, user: t.user, url: renderTarget(t, scheme), service: "" };
}

/**
 * The readings of a value that may be a libpq connection string: a URI (postgres:// or postgresql://) or
 * key=value conninfo is read as libpq reads it, one decoded reading per server (`prod%2Ddb` is `prod-db`),
 * plus the spelling as given (evidence when it matches, not required to). Anything else is read as is.
 */
function connReadings(raw: string, via: string): Reading[] {
  const parsed = parseConnString(raw);
  const scheme = uriPrefix(raw);
  if (parsed.kind === "dbname" || (parsed.kind === "error" && scheme === undefined)) return [reading(raw, via)];
  if (parsed.kind === "error") {
    // Not libpq's URI: some other client may read it (an ORM's own parser), so its spelling stays the reading.
    return [reading(raw, via)];
  }
  const targets = connTargets(parsed.params);
  if (targets instanceof Error) return [{ ...reading(raw, via), problem: `${via}: ${targets.message}` }];
  const decoded = targets.map((t, i) =>
    reading(renderTarget(t, scheme), targets.length > 1 ? `${via} (server ${i + 1} of ${targets.length}, as libpq reads it)` : `${via} (as libpq reads it)`),
  );
  // A service fills in what the string leaves unset: its readings (serviceReadings) are the ones required.
  if (parsed.params.service !== undefined) for (const r of decoded) r.required = false;
  const same = decoded.length === 1 && decoded[0]?.value === raw;
  return same ? [reading(raw, via)] : [{ ...reading(raw, via), required: false }, ...decoded];
}

function dedupe(list: Reading[]): Reading[] {
  const seen = new Set<string>();
  return list.filter((r) => {
    const k = `${r.via}\0${r.value}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Flags in the command's arguments
// ---------------------------------------------------------------------------------------------

interface FlagScan {
  /** Distinct values, in order of first appearance. */
  values: string[];
  problems: string[];
}

/**
 * `--env=x`, `--env x` (and `-e x`, `-e=x`). Every argument is scanned, `--` included: what follows a
 * `--` still reaches the program, and being conservative costs a refusal at worst.
 */
function scanFlag(args: readonly string[], flag: string): FlagScan {
  const values: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    let value: string | undefined;
    if (a === flag) {
      value = args[i + 1];
      if (value === undefined) {
        problems.push(`flag ${flag} is the last argument and has no value`);
        break;
      }
      i++;
    } else if (a.startsWith(`${flag}=`)) {
      value = a.slice(flag.length + 1);
    } else {
      continue;
    }
    if (value === "") problems.push(`flag ${flag} has an empty value`);
    else if (!values.includes(value)) values.push(value);
  }
  if (values.length > 1) {
    problems.push(`flag ${flag} is given more than once with different values: ${values.map(quoteValue).join(", ")}`);
  }
  return { values, problems };
}

function detectArg(
  policy: Policy,
  d: Extract<Detector, { type: "arg" }>,
  envName: string,
  scan: FlagScan,
  namedFlagsDone: Set<string>,
  add: (e: Evidence, problem?: string) => void,
  regex: RegexCompiler | undefined,
  recognised?: Set<string>,
): void {
  if (d.matcher === undefined) {
    // The value names the environment itself, whichever environment declared the detector: read it once.
    if (namedFlagsDone.has(d.flag)) return;
    namedFlagsDone.add(d.flag);
    for (const value of scan.values) {
      const r = normaliseEnvName(policy, value);
      const shown = redactValue(null, value);
      if (r.ok) {
        add({ source: "arg", subject: d.flag, value: shown, environment: r.name, detail: `${d.flag} ${quoteValue(value)} names ${r.name}` });
      } else {
        const p = `flag ${d.flag} has value ${quoteValue(value)} which names no environment (${r.reason})`;
        add({ source: "arg", subject: d.flag, value: shown, environment: null, detail: p }, p);
      }
    }
    return;
  }
  for (const value of scan.values) {
    const shown = redactValue(null, value);
    const m = matchValue(d.matcher, value, d.flag, shown, regex);
    if (m.kind === "none") continue;
    recognised?.add(value);
    add(
      { source: "arg", subject: d.flag, value: shown, environment: m.kind === "match" ? envName : null, detail: m.detail },
      m.kind === "match" ? undefined : m.detail,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Value matching
// ---------------------------------------------------------------------------------------------

export type ValueMatch = { kind: "match" | "ambiguous" | "invalid"; detail: string } | { kind: "none" };

/** Leading/trailing whitespace, controls and invisible format characters. */
const EDGE_JUNK = /^[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff]+|[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff]+$/g;

function strip(s: string): string {
  return s.replace(EDGE_JUNK, "");
}

/** Case, width, look-alikes and edges folded away: only ever used to flag a near miss, never to accept. */
function fold(s: string): string {
  return asciiLower(skeleton(strip(s)).normalize("NFKC").toLowerCase());
}

/**
 * Compare a value with a detector's matcher. A value that matches only after trimming or case-folding is
 * ambiguous (SECURITY E1: `AWS_PROFILE=Prod`, `" prod"`, `prod\n`): the tool that reads it may or may not
 * normalise it, so guard neither accepts nor ignores it.
 */
export function matchValue(m: ValueMatcher, raw: string, subject: string, shown: string, regex: RegexCompiler | undefined): ValueMatch {
  const near = (how: string): ValueMatch => ({
    kind: "ambiguous",
    detail: `${subject}=${quoteValue(shown)} ${how}; the program may read it differently: set it exactly or unset it`,
  });
  switch (m.kind) {
    case "equals":
      if (raw === m.value) return { kind: "match", detail: `${subject} equals ${quoteValue(m.value)}` };
      return fold(raw) === fold(m.value) ? near(`is not ${quoteValue(m.value)} but differs from it only in case, width or whitespace`) : { kind: "none" };
    case "glob": {
      const g = compileGlob(m.pattern, INSENSITIVE);
      if (g(raw)) return { kind: "match", detail: `${subject} matches "${m.pattern}"` };
      return g(strip(raw)) ? near(`matches "${m.pattern}" only after removing whitespace or control characters`) : { kind: "none" };
    }
    case "regex": {
      // A policy with regexes is always given the engine; without one the detector cannot decide, so it fails closed.
      const re = regex ? regex(m.pattern) : new Error("no regex engine was loaded for this policy");
      if (re instanceof Error) {
        return { kind: "invalid", detail: `the policy's regex /${m.pattern}/ for ${subject} is invalid (${re.message}); fix the policy` };
      }
      if (re(raw)) return { kind: "match", detail: `${subject} matches /${m.pattern}/` };
      return re(strip(raw)) ? near(`matches /${m.pattern}/ only after removing whitespace or control characters`) : { kind: "none" };
    }
  }
}

function nonEmpty(v: string | undefined): boolean {
  return v !== undefined && v !== "";
}

// ---------------------------------------------------------------------------------------------
// Messages and redaction
// ---------------------------------------------------------------------------------------------

function label(e: Evidence): string {
  switch (e.source) {
    case "declared":
      return "--env";
    case "env":
      return e.subject;
    case "kube_context":
      return `kube context ${quoteValue(e.value)}`;
    case "host":
      return `host name ${quoteValue(e.value)}`;
    case "arg":
      return `${e.subject} in the command's arguments`;
    case "argument":
      return `${e.subject} ${quoteValue(e.value)}`;
    case "default":
      return "default_environment";
    case "identity":
      return `${e.subject} (the target's answer ${quoteValue(e.value)})`;
  }
}

/** "conflicting target: --env says staging, but AWS_PROFILE and kube context "prod-1" say production". */
function conflict(evidence: readonly Evidence[]): string {
  const groups = new Map<string, string[]>();
  for (const e of evidence) {
    if (e.environment === null) continue;
    const labels = groups.get(e.environment) ?? [];
    if (!labels.includes(label(e))) labels.push(label(e));
    groups.set(e.environment, labels);
  }
  const claims = [...groups].map(([env, labels]) => `${labels.join(" and ")} ${labels.length > 1 ? "say" : "says"} ${env}`);
  const flag = evidence.some((e) => e.environment !== null && (e.source === "declared" || e.source === "arg"));
  const why = flag ? "a flag never overrides detection: " : "";
  return `conflicting target: ${claims.join(", but ")}; ${why}make them agree and run again`;
}

/** Names that hold secrets; PROFILE and REGION variables name things, they are not secrets. */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|KEY/i;
const NOT_SECRET_NAME = /PROFILE|REGION/i;
/** `scheme://user:password@` — the password runs to the last '@' before the path. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^\s/]*@/gi;
/** `password=…` in libpq connection strings and query strings, quoted or not. */
const KEYWORD_SECRET = /\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|sslpassword)=)('(?:[^'\\]|\\.)*'|[^\s&;]*)/gi;

/**
 * What evidence shows of a value: a variable whose name says it holds a secret shows only its length;
 * elsewhere URL passwords and `password=` parameters are masked (`postgres://u:***@h/db`).
 */
export function redactValue(name: string | null, value: string): string {
  if (name !== null && SECRET_NAME.test(name) && !NOT_SECRET_NAME.test(name)) return `(set, ${[...value].length} chars)`;
  return value.replace(URL_PASSWORD, "$1***@").replace(KEYWORD_SECRET, "$1***");
}
