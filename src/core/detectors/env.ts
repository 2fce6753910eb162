/**
 * `- env: DATABASE_URL` with `matches`, `equals` or `regex`: a variable of the invocation, read as the
 * client that uses it reads it (a libpq connection string per server, a PostgreSQL client's own
 * arguments and service file, the AWS clients' profile variables and `--profile`).
 */
import { awsProfileReadings } from "../aws.js";
import { type ConnTarget, connTargets, isPgClient, lookupPgService, parseConnString, pgClientArgs, renderTarget, uriPrefix } from "../libpq.js";
import { quoteValue } from "../names.js";
import type { DetectionInput, Detector, ValueMatcher } from "../types.js";
import type { DetectorKind } from "./kind.js";
import { matchValue, nonEmpty, redactValue, strip } from "./values.js";

declare module "../types.js" {
  interface DetectorShapes {
    /** An environment variable of the invocation. */
    env: { variable: string; matcher: ValueMatcher };
  }
}

type EnvDetector = Extract<Detector, { type: "env" }>;

/** Variables that make the AWS CLI and SDKs ignore AWS_PROFILE (credentials from the environment come first). */
const AWS_CREDENTIAL_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];
const AWS_PROFILE_VARS = new Set(["AWS_PROFILE", "AWS_DEFAULT_PROFILE"]);

export const envDetector: DetectorKind<EnvDetector> = {
  type: "env",
  matcher: "required",
  matcherMissing: {
    message: "an `env` detector needs `equals`, `matches` or `regex`",
    hint: 'e.g. `matches: "*prod-db.*"` (a case-insensitive glob) or `equals: prod-admin`',
  },
  examples: ["DATABASE_URL", "AWS_PROFILE"],

  read(kit) {
    const variable = kit.string("`env`");
    if (variable === null) return null;
    return { type: "env", variable, matcher: kit.matcher!, at: kit.at };
  },

  schema: ({ z, envVar, matchers }) => [
    z.strictObject({ env: envVar, equals: matchers.equals }),
    z.strictObject({ env: envVar, matches: matchers.matches }),
    z.strictObject({ env: envVar, regex: matchers.regex }),
  ],

  label: (e) => e.subject,
  variables: (d) => [d.variable],
  spelling: (d) => ({ matcher: d.matcher, subject: d.variable }),

  /** The pg_service.conf files, when a PG detector is there and a service is named somewhere. */
  files(detectors, args, env) {
    const watched = detectors.some((d) => d.variable in PG_TARGET_VARIABLES);
    const named = nonEmpty(env.PGSERVICE) || args.some((a) => a.includes("service=")) || Object.keys(PG_TARGET_VARIABLES).some((v) => env[v]?.includes("service="));
    return watched && named ? { pgServiceFiles: true } : {};
  },

  start(sink) {
    const input = sink.input;
    const names = input.program ?? [];
    const awsCredentials = AWS_CREDENTIAL_VARS.filter((v) => nonEmpty(input.env[v]));
    const readings = new Map<string, Reading[]>();
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

    return {
      detect(d, environment) {
        if (AWS_PROFILE_VARS.has(d.variable)) watchesAwsProfile = true;
        const raw = input.env[d.variable];
        if (raw !== undefined && strip(raw) === "") {
          if (!emptyReported.has(d.variable)) {
            emptyReported.add(d.variable);
            const shown = redactValue(d.variable, raw);
            const p = `${d.variable} is set but empty (${quoteValue(raw)}); tools read that differently (the AWS SDK falls back to its default profile): unset it or give it a value`;
            sink.add({ source: "env", subject: d.variable, value: shown, environment: null, detail: p }, p);
          }
          return;
        }
        for (const r of readingsOf(d.variable)) {
          // Where the value came from: the variable itself, or what stands in for it (psql -h, --profile, a service file).
          const subject = r.via;
          const shown = redactValue(d.variable, r.value);
          const m = matchValue(d.matcher, r.value, r.via, shown, input.regex);
          if (m.kind === "none") continue;
          r.recognised = true;
          if (m.kind !== "match") {
            sink.add({ source: "env", subject, value: shown, environment: null, detail: m.detail }, m.detail);
          } else if (AWS_PROFILE_VARS.has(d.variable) && awsCredentials.length > 0) {
            sink.addOverridden({
              source: "env",
              subject,
              value: shown,
              environment: null,
              detail: `${m.detail} (${environment}), but ${awsCredentials.join(" and ")} ${awsCredentials.length > 1 ? "are" : "is"} set and the AWS CLI and SDKs use credential variables first: not used`,
            });
          } else {
            sink.add({ source: "env", subject, value: shown, environment, detail: m.detail });
          }
        }
      },

      unrecognised() {
        const seen = new Set<string>();
        for (const [key, list] of readings) {
          for (const r of list) {
            if (r.problem !== undefined) {
              sink.add({ source: "env", subject: key, value: redactValue(key, r.value), environment: null, detail: r.problem }, r.problem);
              continue;
            }
            const shown = redactValue(r.via, r.value);
            if (!r.required || r.recognised || seen.has(`${r.via}\0${r.value}`)) continue;
            seen.add(`${r.via}\0${r.value}`);
            sink.unrecognised({ source: "env", subject: r.via, value: shown }, describeReading(r.via, shown));
          }
        }
      },

      undetermined() {
        if (awsCredentials.length === 0 || !watchesAwsProfile) return undefined;
        const profiles = [...AWS_PROFILE_VARS].filter((v) => input.env[v] !== undefined);
        const what =
          profiles.length > 0 ? `they override ${profiles.map((v) => `${v}=${quoteValue(input.env[v] ?? "")}`).join(" and ")}` : "the policy identifies AWS targets by profile";
        return `AWS credential variables are set (${awsCredentials.join(", ")}); ${what}; add a detector for AWS_ACCESS_KEY_ID or unset them`;
      },
    };
  },
};

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
