/**
 * Per-run credentials (issue 15): minted for one permitted run immediately before it starts, given to
 * that child alone (never to the store, the audit log, guard's output, webhooks or the step summary),
 * revoked when it ends.
 *
 * - postgres: a new LOGIN role `guard_run_<run id>` with a random password (node:crypto), VALID UNTIL
 *   now()+ttl on the server's clock, member of the policy's `grant` roles and nothing else (NOSUPERUSER
 *   NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; INHERIT, so it has the grants' privileges). The
 *   password is sent as a SCRAM-SHA-256 verifier, so the plaintext never reaches the server (or its
 *   statement log). After the run its sessions are terminated, what it created is reassigned to the first
 *   grant role, and it is dropped. `pg` is imported only when a run needs it.
 * - command: the policy's mint command (no shell) prints {"env": {…}, "expires": ISO}; the revoke command
 *   gets those same bytes on stdin after the run.
 */
import { childProcess } from "./child-process.js";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { readClientFile } from "./client-file.js";
import { GuardError, configError, ioError } from "../core/errors.js";
import { MAX_MINT_OUTPUT, PG_ROLE_NAME_RE, PG_ROLE_PREFIX, parseMintOutput, pgRoleName } from "../core/credentials.js";
import { escapeForTerminal as esc } from "../core/escape.js";
import type { Credentials, SecretSource } from "../core/types.js";

type Pg = (typeof import("pg"))["default"];
type Client = InstanceType<Pg["Client"]>;
let pgModule: Promise<Pg> | undefined;
const loadPg = (): Promise<Pg> => (pgModule ??= import("pg").then((m) => m.default));

const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 30_000;
/** pg_terminate_backend waits this long for each of the run's sessions to end. */
const TERMINATE_WAIT_MS = 5_000;

export interface MintContext {
  /** guard's own environment: where `env:` sources are read, and the mint command's environment. */
  env: NodeJS.ProcessEnv;
  runId: string;
  requestId: string | null;
  environment: string;
}

export interface RevokeOutcome {
  ok: boolean;
  /** For the audit event: never a secret. */
  data: Record<string, unknown>;
  /** Why it failed, for the warning (never a secret). */
  message?: string;
}

export interface Minted {
  /** What the child's environment receives (replacing any value these names had). Secret. */
  env: Record<string, string>;
  /** What the audit log records about what was issued: never a secret. */
  issued: Record<string, unknown>;
  /** Revoke what was minted; never throws. Call once. */
  revoke(): Promise<RevokeOutcome>;
}

/** Mint credentials for one run. Any failure throws a GuardError (74: the source failed; 78: configuration). */
export async function mintCredentials(creds: Credentials, mc: MintContext): Promise<Minted> {
  return creds.type === "postgres" ? mintPostgres(creds, mc) : mintCommand(creds, mc);
}

// ---------------------------------------------------------------------------------------------
// postgres
// ---------------------------------------------------------------------------------------------

type PgCredentials = Extract<Credentials, { type: "postgres" }>;

async function mintPostgres(creds: PgCredentials, mc: MintContext): Promise<Minted> {
  const adminUrl = await readSecret(creds.admin, mc.env);
  const target = parseAdminUrl(adminUrl, creds.admin);
  const role = pgRoleName(mc.runId);
  const password = randomBytes(32).toString("base64url");
  // The child's URL: the admin URL's host, port, database and parameters, with the run's role instead.
  const url = new URL(adminUrl);
  url.username = role;
  url.password = password;
  for (const k of ["user", "password", "passfile"]) url.searchParams.delete(k);
  if (url.username !== role || url.password !== password) {
    throw configError(`the admin URL in ${describeSource(creds.admin)} names no host, so no per-run URL can carry a role and password; nothing was run`, "write the host in the URL: postgres://user:password@host:port/database");
  }
  const pg = await loadPg();
  const client = await connect(pg, adminUrl, target);
  let validUntil: string;
  try {
    const bad = await client.query<{ rolname: string; why: string }>(
      `SELECT rolname, concat_ws(', ', CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
              CASE WHEN rolcreatedb THEN 'CREATEDB' END, CASE WHEN rolreplication THEN 'REPLICATION' END, CASE WHEN rolbypassrls THEN 'BYPASSRLS' END) AS why
         FROM pg_roles WHERE rolname = ANY($1::text[]) AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)`,
      [creds.grant],
    );
    if (bad.rows.length > 0) {
      const r = bad.rows[0]!;
      throw configError(
        `grant role ${esc(r.rolname)} has ${r.why}: a per-run role must never have such rights; nothing was run`,
        "grant an ordinary role holding only the privileges the maintenance needs (credentials.postgres.grant)",
      );
    }
    const found = await client.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])", [creds.grant]);
    const missing = creds.grant.filter((g) => !found.rows.some((r) => r.rolname === g));
    if (missing.length > 0) {
      throw configError(`grant role${missing.length === 1 ? "" : "s"} ${missing.map((m) => esc(m)).join(", ")} not found on ${target.where}; nothing was run`, "create the role or fix credentials.postgres.grant");
    }
    const until = await client.query<{ until: Date }>("SELECT now() + $1::int * interval '1 second' AS until", [creds.ttlSeconds]);
    validUntil = until.rows[0]!.until.toISOString();
    const id = (s: string): string => pg.escapeIdentifier(s);
    const lit = (s: string): string => pg.escapeLiteral(s);
    await client.query("BEGIN");
    await client.query(
      `CREATE ROLE ${id(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ` +
        `PASSWORD ${lit(scramVerifier(password))} VALID UNTIL ${lit(validUntil)} IN ROLE ${creds.grant.map(id).join(", ")}`,
    );
    await client.query(`COMMENT ON ROLE ${id(role)} IS ${lit(`access-guard ${mc.runId}${mc.requestId ? ` (request ${mc.requestId})` : ""}, environment ${mc.environment}`)}`);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err instanceof GuardError ? err : ioError(`could not create the per-run role on ${target.where}: ${pgMessage(err, adminUrl)}; nothing was run`, "check the admin role (CREATEROLE, and ADMIN OPTION on the grant roles) and the server; the approval was not used");
  } finally {
    await client.end().catch(() => undefined);
  }

  let revoked = false;
  return {
    env: { [creds.export]: url.toString() },
    issued: { provider: "postgres", role, grant: creds.grant, validUntil, server: target.where, exported: creds.export },
    revoke: async () => {
      if (revoked) return { ok: true, data: { provider: "postgres", role } };
      revoked = true;
      try {
        await dropRole(pg, adminUrl, target, role, creds.grant[0]!);
        return { ok: true, data: { provider: "postgres", role, revokedAt: new Date().toISOString() } };
      } catch (err) {
        const reason = pgMessage(err, adminUrl, password);
        return {
          ok: false,
          data: { provider: "postgres", role, validUntil, reason },
          message: `could not drop the per-run role ${role} on ${target.where}: ${reason}; it stops working at ${validUntil}, and \`guard credentials sweep\` removes it after that`,
        };
      }
    },
  };
}

async function dropRole(pg: Pg, adminUrl: string, target: AdminTarget, role: string, heir: string): Promise<void> {
  const client = await connect(pg, adminUrl, target);
  try {
    await client.query("SELECT pg_terminate_backend(pid, $2) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", [role, TERMINATE_WAIT_MS]);
    const exists = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (exists.rows.length === 0) return;
    const id = (s: string): string => pg.escapeIdentifier(s);
    await client.query("BEGIN");
    // What the run created (a migration's tables) stays, owned by the maintainer role it acted for.
    await client.query(`REASSIGN OWNED BY ${id(role)} TO ${id(heir)}`);
    await client.query(`DROP OWNED BY ${id(role)}`);
    await client.query(`DROP ROLE ${id(role)}`);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface SweepResult {
  environment: string;
  server: string;
  dropped: string[];
  /** Roles of runs that may still be going (VALID UNTIL not yet past): left alone. */
  live: string[];
  failed: { role: string; reason: string }[];
}

/**
 * Drop the per-run roles a killed guard left behind: `guard_run_*` roles whose VALID UNTIL has passed.
 * A role still valid may belong to a run in progress and is left alone.
 */
export async function sweepPostgres(environment: string, creds: PgCredentials, env: NodeJS.ProcessEnv): Promise<SweepResult> {
  const adminUrl = await readSecret(creds.admin, env);
  const target = parseAdminUrl(adminUrl, creds.admin);
  const pg = await loadPg();
  const client = await connect(pg, adminUrl, target);
  let rows: { rolname: string; expired: boolean }[];
  try {
    const r = await client.query<{ rolname: string; expired: boolean }>(
      "SELECT rolname, (rolvaliduntil IS NOT NULL AND rolvaliduntil < now()) AS expired FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname",
      [PG_ROLE_PREFIX],
    );
    rows = r.rows.filter((x) => PG_ROLE_NAME_RE.test(x.rolname));
  } catch (err) {
    throw ioError(`could not list per-run roles on ${target.where}: ${pgMessage(err, adminUrl)}`, "check the admin URL and that the server is up");
  } finally {
    await client.end().catch(() => undefined);
  }
  const result: SweepResult = { environment, server: target.where, dropped: [], live: [], failed: [] };
  for (const { rolname, expired } of rows) {
    if (!expired) {
      result.live.push(rolname);
      continue;
    }
    try {
      await dropRole(pg, adminUrl, target, rolname, creds.grant[0]!);
      result.dropped.push(rolname);
    } catch (err) {
      result.failed.push({ role: rolname, reason: pgMessage(err, adminUrl) });
    }
  }
  return result;
}

interface AdminTarget {
  /** host:port/database, for messages (never the userinfo). */
  where: string;
}

function parseAdminUrl(url: string, source: SecretSource): AdminTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw configError(`the admin URL in ${describeSource(source)} is not a URL`, "it must be postgres://user:password@host:port/database");
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw configError(`the admin URL in ${describeSource(source)} is not a postgres:// URL`, "it must be postgres://user:password@host:port/database");
  return { where: `${u.hostname || "local socket"}${u.port ? `:${u.port}` : ""}${u.pathname}` };
}

async function connect(pg: Pg, adminUrl: string, target: AdminTarget): Promise<Client> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, statement_timeout: STATEMENT_TIMEOUT_MS, application_name: "access-guard credentials" });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw ioError(`the credentials database ${target.where} is unreachable: ${pgMessage(err, adminUrl)}; nothing was run`, "check that the server is up and the admin URL; the approval was not used, run again when it is back");
  }
  return client;
}

/** A pg error's message with any secret scrubbed (pg does not echo passwords, but make sure). */
function pgMessage(err: unknown, adminUrl: string, ...secrets: string[]): string {
  let m = err instanceof Error ? err.message : String(err);
  try {
    const p = decodeURIComponent(new URL(adminUrl).password);
    if (p) secrets.push(p);
  } catch {
    // not a URL: nothing to scrub by that name
  }
  secrets.push(adminUrl);
  for (const s of secrets) if (s) m = m.split(s).join("***");
  return esc(m);
}

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as libpq's PQencryptPasswordConn makes it). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

// ---------------------------------------------------------------------------------------------
// secret sources
// ---------------------------------------------------------------------------------------------

function describeSource(s: SecretSource): string {
  return s.kind === "env" ? `variable ${s.name}` : `file ${esc(s.path)}`;
}

async function readSecret(source: SecretSource, env: NodeJS.ProcessEnv): Promise<string> {
  if (source.kind === "env") {
    const v = env[source.name];
    if (!v) throw configError(`credentials.postgres.admin names variable ${source.name}, which is not set for guard; nothing was run`, `set ${source.name} for the guard step only (see docs/ci.md); the approval was not used`);
    return v.trim();
  }
  let mode: number;
  try {
    mode = statSync(source.path).mode;
  } catch (err) {
    throw configError(`cannot read the admin URL file ${esc(source.path)} (${(err as NodeJS.ErrnoException).code ?? "error"}); nothing was run`, "check credentials.postgres.admin and that guard runs as the identity that can read it");
  }
  if (mode & 0o004) throw configError(`the admin URL file ${esc(source.path)} is readable by every user of this machine; nothing was run`, `chmod o-r ${esc(source.path)}: only guard's service identity should read it`);
  // Bounded and a regular file only (adapters/client-file.ts): a FIFO or a device there must refuse, not hang.
  const read = readClientFile(source.path, MAX_SECRET_FILE);
  if (!("bytes" in read)) {
    const why = "missing" in read ? "ENOENT" : read.error;
    throw configError(`cannot read the admin URL file ${esc(source.path)} (${esc(why)}); nothing was run`, "check that guard runs as the identity that can read it (docs/bastion.md)");
  }
  return read.bytes.toString("utf8").trim();
}

/** An admin URL is one line; a file larger than this is not one. */
const MAX_SECRET_FILE = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// command
// ---------------------------------------------------------------------------------------------

type CommandCredentials = Extract<Credentials, { type: "command" }>;

async function mintCommand(creds: CommandCredentials, mc: MintContext): Promise<Minted> {
  const env = { ...mc.env, GUARD_RUN_ID: mc.runId, GUARD_REQUEST_ID: mc.requestId ?? "", GUARD_ENVIRONMENT: mc.environment };
  const out = await runHelper(creds.run, env, creds.timeoutSeconds, null);
  const program = esc(creds.run[0]!);
  if (out.failure) throw ioError(`the credentials command ${program} ${out.failure}; nothing was run${out.stderr ? `: ${out.stderr}` : ""}`, "fix the mint command (credentials.command.run); the approval was not used");
  const parsed = parseMintOutput(out.stdout, Date.now());
  if (!parsed.ok) throw ioError(`the credentials command ${program} gave no usable credentials: ${parsed.reason}; nothing was run`, 'it must print exactly {"env": {"NAME": "VALUE"}, "expires": "2026-01-01T00:00:00Z"}; the approval was not used');
  const variables = Object.keys(parsed.env).sort();
  let revoked = false;
  return {
    env: parsed.env,
    issued: { provider: "command", program: creds.run[0], variables, expires: parsed.expires },
    revoke: async () => {
      if (revoked || !creds.revoke) return { ok: true, data: { provider: "command", variables, revoke: creds.revoke ? "done" : "none configured" } };
      revoked = true;
      const r = await runHelper(creds.revoke, env, creds.timeoutSeconds, out.stdout);
      if (!r.failure) return { ok: true, data: { provider: "command", variables, revokedAt: new Date().toISOString() } };
      return {
        ok: false,
        data: { provider: "command", variables, expires: parsed.expires, reason: r.failure },
        message: `the revoke command ${esc(creds.revoke[0]!)} ${r.failure}${r.stderr ? `: ${r.stderr}` : ""}; the credentials (${variables.join(", ")}) stay valid until ${parsed.expires}`,
      };
    },
  };
}

interface HelperResult {
  stdout: string;
  /** The first 1000 characters of stderr, escaped: shown only when the command failed. */
  stderr: string;
  /** Why it failed ("exited with status 3", "timed out after 30s", …), or null. */
  failure: string | null;
}

function runHelper(argv: string[], env: NodeJS.ProcessEnv, timeoutSeconds: number, input: string | null): Promise<HelperResult> {
  return new Promise((resolve) => {
    // Its own process group, so that a timeout ends whatever it started too (a `sleep` holding stdout).
    const child = childProcess().spawn(argv[0]!, argv.slice(1), { env, cwd: "/", stdio: [input === null ? "ignore" : "pipe", "pipe", "pipe"], shell: false, detached: true });
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const out: Buffer[] = [];
    let outLen = 0;
    let err = "";
    let failure: string | null = null;
    const timer = setTimeout(() => {
      failure ??= `timed out after ${timeoutSeconds}s`;
      kill();
    }, timeoutSeconds * 1000);
    child.stdout!.on("data", (d: Buffer) => {
      outLen += d.length;
      if (outLen > MAX_MINT_OUTPUT) {
        failure ??= `printed more than ${MAX_MINT_OUTPUT} bytes`;
        kill();
        return;
      }
      out.push(d);
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      if (err.length < 1000) err += d;
    });
    if (child.stdin) {
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    }
    let done = false;
    const finish = (r: HelperResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    child.on("error", (e: NodeJS.ErrnoException) => finish({ stdout: "", stderr: "", failure: `could not be started (${e.code ?? e.message})` }));
    child.on("close", (code, signal) => {
      if (failure === null && code !== 0) failure = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      finish({ stdout: Buffer.concat(out).toString("utf8"), stderr: esc(err.slice(0, 1000).trim()), failure });
    });
  });
}
