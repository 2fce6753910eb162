/**
 * Connection strings read the way libpq reads them (PostgreSQL's src/interfaces/libpq/fe-connect.c,
 * conninfo_parse and conninfo_uri_parse_options), so that guard sees the host the client will reach and
 * not the spelling it was handed: `prod%2Ddb.internal` is `prod-db.internal`, `postgres://` and
 * `postgresql://` are the same, `host=a,b` tries two servers. Pure: no I/O; service files are read by
 * the adapter and handed in as text (see pgServiceSection).
 *
 * The rules, each held to the real psql by test/core/libpq.test.ts:
 * - a URI starts with exactly `postgresql://` or `postgres://` (case-sensitive, as libpq compares it);
 * - anything else containing '=' is key=value conninfo; anything else is a plain database name;
 * - URI: `[user[:password]@][host[:port]][,host[:port]…][/dbname][?key=value&…]`, IPv6 hosts in `[…]`,
 *   every component percent-decoded (`%00` and a malformed `%` are errors); `ssl=true` means
 *   `sslmode=require`; an unknown query parameter is an error;
 * - conninfo: `key = value` separated by white space; a value is either single-quoted (backslash escapes
 *   the next character) or runs to the next white space (backslash escapes the next character); an unknown
 *   keyword or a missing '=' is an error;
 * - several hosts: `host`, `hostaddr` and `port` are comma-separated lists; `port` may be one value for all.
 */

/** libpq's connection keywords (PostgreSQL 17; older clients reject the newest, which only costs a refusal). */
export const LIBPQ_KEYWORDS: ReadonlySet<string> = new Set([
  "service", "user", "password", "passfile", "channel_binding", "connect_timeout", "dbname", "host", "hostaddr",
  "port", "client_encoding", "options", "application_name", "fallback_application_name", "keepalives",
  "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "sslmode", "sslnegotiation",
  "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir",
  "sslsni", "requirepeer", "require_auth", "ssl_min_protocol_version", "ssl_max_protocol_version",
  "gssencmode", "krbsrvname", "gsslib", "gssdelegation", "replication", "target_session_attrs",
  "load_balance_hosts", "requiressl",
]);

export type ConnParams = Record<string, string>;
export type ParsedConn = { kind: "uri" | "conninfo"; params: ConnParams } | { kind: "error"; error: string } | { kind: "dbname" };

const URI_PREFIXES = ["postgresql://", "postgres://"] as const;

export function uriPrefix(s: string): string | undefined {
  return URI_PREFIXES.find((p) => s.startsWith(p));
}

/** What libpq makes of a string given where a connection string may stand (PQconnectdb, psql's dbname). */
export function parseConnString(s: string): ParsedConn {
  if (uriPrefix(s) !== undefined) return parseUri(s);
  if (s.includes("=")) return parseConninfo(s);
  return { kind: "dbname" };
}

const UTF8 = new TextEncoder();

function percentDecode(s: string): string | Error {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== "%") {
      bytes.push(...UTF8.encode(c));
      continue;
    }
    const hex = s.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return new Error(`invalid percent-encoded token: "${s}"`);
    const b = parseInt(hex, 16);
    if (b === 0) return new Error(`forbidden value %00 in percent-encoded value: "${s}"`);
    bytes.push(b);
    i += 2;
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function parseUri(uri: string): ParsedConn {
  const params: ConnParams = {};
  const fail = (error: string): ParsedConn => ({ kind: "error", error });
  const store = (key: string, raw: string): Error | undefined => {
    const v = percentDecode(raw);
    if (v instanceof Error) return v;
    params[key] = v;
    return undefined;
  };
  let rest = uri.slice((uriPrefix(uri) as string).length);
  // userspec: everything before an '@' that comes before the first '/' or '?'.
  const userEnd = rest.search(/[@/?]/);
  if (userEnd >= 0 && rest[userEnd] === "@") {
    const userspec = rest.slice(0, userEnd);
    const colon = userspec.indexOf(":");
    const user = colon >= 0 ? userspec.slice(0, colon) : userspec;
    if (user !== "") {
      const e = store("user", user);
      if (e) return fail(e.message);
    }
    if (colon >= 0) {
      const e = store("password", userspec.slice(colon + 1));
      if (e) return fail(e.message);
    }
    rest = rest.slice(userEnd + 1);
  }
  // hostspec list
  const hosts: string[] = [];
  const ports: string[] = [];
  for (;;) {
    let host: string;
    if (rest.startsWith("[")) {
      const close = rest.indexOf("]");
      if (close < 0) return fail(`end of string reached when looking for matching "]" in IPv6 host address in URI: "${uri}"`);
      host = rest.slice(1, close);
      if (host === "") return fail(`IPv6 host address may not be empty in URI: "${uri}"`);
      rest = rest.slice(close + 1);
      if (rest !== "" && !/^[:/?,]/.test(rest)) return fail(`unexpected character after IPv6 host address in URI: "${uri}"`);
    } else {
      const end = rest.search(/[:/?,]/);
      host = end < 0 ? rest : rest.slice(0, end);
      rest = end < 0 ? "" : rest.slice(end);
    }
    let port = "";
    if (rest.startsWith(":")) {
      const end = rest.search(/[/?,]/);
      port = end < 0 ? rest.slice(1) : rest.slice(1, end);
      rest = end < 0 ? "" : rest.slice(end);
    }
    hosts.push(host);
    ports.push(port);
    if (!rest.startsWith(",")) break;
    rest = rest.slice(1);
  }
  if (hosts.some((h) => h !== "") || hosts.length > 1) {
    const e = store("host", hosts.join(","));
    if (e) return fail(e.message);
  }
  if (ports.some((p) => p !== "")) {
    const e = store("port", ports.join(","));
    if (e) return fail(e.message);
  }
  if (rest.startsWith("/")) {
    const q = rest.indexOf("?");
    const db = q < 0 ? rest.slice(1) : rest.slice(1, q);
    rest = q < 0 ? "" : rest.slice(q);
    if (db !== "") {
      const e = store("dbname", db);
      if (e) return fail(e.message);
    }
  }
  if (rest.startsWith("?")) {
    for (const pair of rest.slice(1).split("&")) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      if (eq < 0) return fail(`missing key/value separator "=" in URI query parameter: "${pair}"`);
      if (pair.indexOf("=", eq + 1) >= 0) return fail(`extra key/value separator "=" in URI query parameter: "${pair}"`);
      const key = percentDecode(pair.slice(0, eq));
      const value = percentDecode(pair.slice(eq + 1));
      if (key instanceof Error) return fail(key.message);
      if (value instanceof Error) return fail(value.message);
      if (key === "ssl" && value === "true") {
        params.sslmode = "require";
        continue;
      }
      if (!LIBPQ_KEYWORDS.has(key)) return fail(`invalid URI query parameter: "${key}"`);
      params[key] = value;
    }
  } else if (rest !== "") {
    return fail(`unexpected text in URI: "${uri}"`);
  }
  return { kind: "uri", params };
}

function parseConninfo(s: string): ParsedConn {
  const params: ConnParams = {};
  let i = 0;
  const space = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  while (i < s.length) {
    while (space(s[i])) i++;
    if (i >= s.length) break;
    let key = "";
    while (i < s.length && !space(s[i]) && s[i] !== "=") key += s[i++];
    while (space(s[i])) i++;
    if (s[i] !== "=") return { kind: "error", error: `missing "=" after "${key}" in connection info string` };
    i++;
    while (space(s[i])) i++;
    let value = "";
    if (s[i] === "'") {
      i++;
      let closed = false;
      while (i < s.length) {
        const c = s[i] as string;
        if (c === "\\" && i + 1 < s.length) {
          value += s[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) return { kind: "error", error: "unterminated quoted string in connection info string" };
    } else {
      while (i < s.length && !space(s[i])) {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        value += s[i++];
      }
    }
    if (!LIBPQ_KEYWORDS.has(key)) return { kind: "error", error: `invalid connection option "${key}"` };
    params[key] = value;
  }
  return { kind: "conninfo", params };
}

/** One server libpq may try: the host (name or socket directory), its hostaddr, port and the database. */
export interface ConnTarget {
  host: string;
  hostaddr: string;
  port: string;
  dbname: string;
  user: string;
}

/**
 * The servers a set of parameters reaches, in the order libpq tries them, or an error libpq would raise
 * (mismatched list lengths). An empty host means the default (the local socket).
 */
export function connTargets(p: Readonly<ConnParams>): ConnTarget[] | Error {
  const split = (v: string | undefined): string[] => (v === undefined || v === "" ? [] : v.split(","));
  const hosts = split(p.host);
  const addrs = split(p.hostaddr);
  const ports = split(p.port);
  const n = Math.max(hosts.length, addrs.length, 1);
  if (hosts.length > 0 && addrs.length > 0 && hosts.length !== addrs.length) {
    return new Error(`could not match ${hosts.length} host names to ${addrs.length} hostaddr values`);
  }
  if (ports.length > 1 && ports.length !== n) return new Error(`could not match ${ports.length} port numbers to ${n} hosts`);
  const out: ConnTarget[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      host: hosts[i] ?? "",
      hostaddr: addrs[i] ?? "",
      port: ports.length === 1 ? (ports[0] as string) : (ports[i] ?? ""),
      dbname: p.dbname ?? "",
      user: p.user ?? "",
    });
  }
  return out;
}

/**
 * A target as one decoded string for detector globs: `postgresql://[user@]host[:port]/dbname[?hostaddr=A]`
 * with nothing percent-encoded (so `*prod-db.*` sees `prod-db.internal` however it was spelled). `scheme`
 * keeps the spelling the user gave (`postgres://` or `postgresql://`).
 */
export function renderTarget(t: ConnTarget, scheme = "postgresql://"): string {
  const user = t.user === "" ? "" : `${t.user}@`;
  const port = t.port === "" ? "" : `:${t.port}`;
  const addr = t.hostaddr === "" ? "" : `?hostaddr=${t.hostaddr}`;
  return `${scheme}${user}${t.host}${port}/${t.dbname}${addr}`;
}

/** libpq's environment variables for the parameters that name the target. */
export const PG_ENV: Readonly<Record<string, string>> = {
  host: "PGHOST",
  hostaddr: "PGHOSTADDR",
  port: "PGPORT",
  dbname: "PGDATABASE",
  user: "PGUSER",
  service: "PGSERVICE",
};

/**
 * One `[name]` section of a pg_service.conf text, as libpq reads it (parseServiceFile): `key=value` lines,
 * `#` comments and blank lines skipped, leading white space dropped, a value runs to the end of the line
 * (trailing white space removed). Returns undefined when the section is absent, an Error for a line libpq
 * rejects (no '=', an unknown keyword, a nested `service=`).
 */
export function pgServiceSection(text: string, name: string): ConnParams | undefined | Error {
  let inSection = false;
  let found = false;
  const params: ConnParams = {};
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).replace(/\r$/, "").replace(/^\s+/, "").replace(/\s+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      if (found) break; // libpq stops at the next section once it has read the one it wanted
      inSection = line.slice(1).startsWith(name) && line.slice(1 + name.length).startsWith("]");
      if (inSection) found = true;
      continue;
    }
    if (!inSection) continue;
    const eq = line.indexOf("=");
    if (eq < 0) return new Error(`syntax error in service file, line ${n + 1}`);
    const key = line.slice(0, eq);
    if (key === "service") return new Error(`nested "service" specifications not supported in service file, line ${n + 1}`);
    if (!LIBPQ_KEYWORDS.has(key)) return new Error(`syntax error in service file, line ${n + 1}: unknown keyword "${key}"`);
    if (!(key in params)) params[key] = line.slice(eq + 1);
  }
  return found ? params : undefined;
}

// ---------------------------------------------------------------------------------------------
// The PostgreSQL client programs' own arguments
// ---------------------------------------------------------------------------------------------

/**
 * How each client program takes its connection (from each program's getopt table): short options that
 * take a value, the long options that carry a connection parameter, and what its non-option arguments are.
 * `positional: "dbname"` means the first non-option argument is the database (a connection string there is
 * expanded, as by PQconnectdbParams with expand_dbname); `"other"` means non-option arguments are not
 * connections (pg_restore's archive, createdb/dropdb's database to create or drop).
 */
interface PgProgram {
  shortWithValue: string;
  /** Long options that take a value (besides the connection ones), so `--table x` does not make `x` the database. */
  longWithValue: readonly string[];
  positional: "dbname" | "other";
}
const DUMP_LONG = [
  "file", "format", "jobs", "schema", "exclude-schema", "table", "exclude-table", "superuser", "compress", "encoding",
  "extension", "exclude-extension", "exclude-table-data", "exclude-table-and-children", "exclude-table-data-and-children",
  "table-and-children", "extra-float-digits", "lock-wait-timeout", "role", "section", "snapshot", "rows-per-insert",
  "include-foreign-data", "filter", "sync-method",
];
const PG_PROGRAMS: Record<string, PgProgram> = {
  psql: {
    shortWithValue: "cdfFhLopPRTUv",
    longWithValue: ["command", "file", "field-separator", "log-file", "output", "pset", "record-separator", "table-attr", "set", "variable"],
    positional: "dbname",
  },
  pg_dump: { shortWithValue: "deEfFhjnNpStTUZ", longWithValue: DUMP_LONG, positional: "dbname" },
  pg_restore: {
    shortWithValue: "dfFhIjLnNpPStTU",
    longWithValue: ["file", "format", "index", "jobs", "use-list", "schema", "exclude-schema", "function", "trigger", "table", "superuser", "role", "section", "filter"],
    positional: "other",
  },
  pg_dumpall: { shortWithValue: "dEfhlpSU", longWithValue: ["file", "database", "encoding", "superuser", "role", "exclude-database", "extra-float-digits", "lock-wait-timeout", "rows-per-insert", "filter"], positional: "other" },
  createdb: { shortWithValue: "DEhlOpSTU", longWithValue: ["tablespace", "encoding", "locale", "lc-collate", "lc-ctype", "icu-locale", "icu-rules", "locale-provider", "owner", "strategy", "template"], positional: "other" },
  dropdb: { shortWithValue: "hpU", longWithValue: [], positional: "other" },
  createuser: { shortWithValue: "cghpU", longWithValue: ["connection-limit", "role", "member-of", "admin", "valid-until"], positional: "other" },
  dropuser: { shortWithValue: "hpU", longWithValue: [], positional: "other" },
  vacuumdb: { shortWithValue: "dhjnNpPtU", longWithValue: ["jobs", "schema", "exclude-schema", "parallel", "table", "min-xid-age", "min-mxid-age", "buffer-usage-limit"], positional: "dbname" },
  reindexdb: { shortWithValue: "dhijpStU", longWithValue: ["index", "jobs", "schema", "table", "tablespace"], positional: "dbname" },
  clusterdb: { shortWithValue: "dhptU", longWithValue: ["table"], positional: "dbname" },
  pgbench: {
    shortWithValue: "bcDfFhIjLMpPRstTU",
    longWithValue: ["builtin", "client", "define", "file", "fillfactor", "init-steps", "jobs", "latency-limit", "protocol", "progress", "rate", "scale", "time", "transactions", "partitions", "partition-method", "tablespace", "index-tablespace", "log-prefix", "sampling-rate", "random-seed", "aggregate-interval", "max-tries", "show-script"],
    positional: "dbname",
  },
  pg_isready: { shortWithValue: "dhpt", longWithValue: ["timeout"], positional: "other" },
  pg_basebackup: { shortWithValue: "cdDFhilprsStTUXZ", longWithValue: ["checkpoint", "pgdata", "format", "label", "max-rate", "slot", "status-interval", "tablespace-mapping", "target", "wal-method", "compress", "waldir", "manifest-checksums", "incremental"], positional: "other" },
};

/** Long options (as typed after `--`) that carry a connection parameter; getopt_long accepts unique prefixes. */
const LONG_CONN: Record<string, keyof typeof CONN_OF_SHORT | "maintenance"> = {
  host: "h",
  port: "p",
  username: "U",
  dbname: "d",
  "maintenance-db": "maintenance",
};
const CONN_OF_SHORT = { h: "host", p: "port", U: "user", d: "dbname" } as const;

export function isPgClient(name: string): boolean {
  return Object.hasOwn(PG_PROGRAMS, name);
}

/** One connection parameter the client's arguments set, and where. */
export interface PgArg {
  key: "host" | "port" | "user" | "dbname" | "conn";
  value: string;
  /** "-h", "--dbname", "argument 2", … */
  at: string;
}

/**
 * The connection parameters a PostgreSQL client program's arguments set. A connection string (in
 * `-d`/`--dbname`/`--maintenance-db` or a database position) is returned whole as key "conn" for the
 * caller to parse. Options are read like getopt_long: `-hX` and `-h X`, `--host=X` and `--host X`,
 * unique prefixes of long options (`--hos=X`), bundled short flags (`-Xh X`), and `--` ends the options.
 */
export function pgClientArgs(program: string, args: readonly string[]): PgArg[] {
  const spec = PG_PROGRAMS[program];
  if (spec === undefined) return [];
  const out: PgArg[] = [];
  let positional = 0;
  const put = (letter: string, value: string, at: string): void => {
    if (letter === "maintenance") out.push({ key: "conn", value, at });
    else if (letter === "d") out.push({ key: parseConnString(value).kind === "dbname" ? "dbname" : "conn", value, at });
    else if (letter in CONN_OF_SHORT) out.push({ key: CONN_OF_SHORT[letter as keyof typeof CONN_OF_SHORT], value, at });
  };
  let optionsEnded = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!optionsEnded && a === "--") {
      optionsEnded = true;
      continue;
    }
    if (!optionsEnded && a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const known = [...Object.keys(LONG_CONN), ...spec.longWithValue];
      const candidates = known.filter((k) => k.startsWith(name) && name !== "");
      const exact = known.includes(name) ? name : candidates.length === 1 ? candidates[0] : undefined;
      if (exact === undefined || !Object.hasOwn(LONG_CONN, exact)) {
        if (exact !== undefined && eq < 0) i++; // `--table x`: x is the option's value, not the database
        continue;
      }
      let value: string | undefined = eq < 0 ? args[++i] : a.slice(eq + 1);
      value ??= "";
      put(LONG_CONN[exact] as string, value, `--${exact}`);
      continue;
    }
    if (!optionsEnded && a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const letter = a[j] as string;
        if (!spec.shortWithValue.includes(letter)) continue;
        const value = j + 1 < a.length ? a.slice(j + 1) : (args[++i] ?? "");
        put(letter, value, `-${letter}`);
        break;
      }
      continue;
    }
    positional++;
    if (spec.positional === "dbname" && positional === 1) put("d", a, `argument ${i + 1}`);
    else if (parseConnString(a).kind !== "dbname") out.push({ key: "conn", value: a, at: `argument ${i + 1}` });
  }
  return out;
}

/**
 * The service files libpq consults, in order: PGSERVICEFILE, else ~/.pg_service.conf; then
 * PGSYSCONFDIR/pg_service.conf (Debian's libpq is built with /etc/postgresql-common). The first file
 * that has the section wins.
 */
export function pgServiceFilePaths(env: Readonly<Record<string, string | undefined>>, home: string): string[] {
  const user = env.PGSERVICEFILE !== undefined && env.PGSERVICEFILE !== "" ? env.PGSERVICEFILE : `${home.replace(/\/+$/, "")}/.pg_service.conf`;
  const sysconf = env.PGSYSCONFDIR !== undefined && env.PGSYSCONFDIR !== "" ? env.PGSYSCONFDIR : "/etc/postgresql-common";
  return [user, `${sysconf.replace(/\/+$/, "")}/pg_service.conf`];
}

/** The service's parameters from the first file that defines it, as libpq looks it up. */
export function lookupPgService(
  files: readonly { path: string; text?: string; error?: string }[],
  name: string,
): { params: ConnParams; path: string } | Error {
  for (const f of files) {
    if (f.error !== undefined) return new Error(`cannot read the service file ${f.path}: ${f.error}`);
    const section = pgServiceSection(f.text ?? "", name);
    if (section instanceof Error) return new Error(`${f.path}: ${section.message}`);
    if (section !== undefined) return { params: section, path: f.path };
  }
  return new Error(`definition of service "${name}" not found in ${files.map((f) => f.path).join(" or ") || "any service file"}`);
}
