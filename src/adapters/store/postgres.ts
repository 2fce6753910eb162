import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Client, Pool, PoolClient, PoolConfig, QueryResult, QueryResultRow } from "pg";
import { auditShapeProblem, chainEvent } from "../../core/audit.js";
import { canonicalJson, sha256Hex } from "../../core/canonical.js";
import { deniedError, ExitCode, GuardError, integrityError, usageError } from "../../core/errors.js";
import type { AuditDraft, AuditEvent, Consumption, SignedApproval, SignedRequest } from "../../core/types.js";
import { PRUNE_FUNCTION,
  AUDIT_TYPE_PATTERN,
  BREAK_GLASS_PREDICATE,
  CONSUMED_PREDICATE,
  CONSUMED_REQUEST_ID,
  LOCK_CLASS,
  LOCK_MIGRATE,
  MIGRATIONS,
  NOTIFY_CHANNEL,
  SCHEMA_VERSION,
  VERSION_TABLE_SQL,
} from "./postgres-schema.js";
import { jsonTooDeep, TOO_DEEP } from "../../core/json-depth.js";
import { BINDING_KEY_RE, requestBindingKey } from "../../core/request.js";
import { PruneScan } from "../../core/prune.js";
import type { RetiredRecord } from "./archive.js";
import { approvalProblem, consumptionProblem, requestProblem } from "./records.js";
import { approvalsOrDamaged, REQUEST_ID_PREFIX_RE, REQUEST_ID_RE, type AuditFilter, type AuditLineSink, type ConsumptionList, type PruneOptions, type PruneOutcome, type RecordBatch, type RequestList, type RequestWatch, type Store } from "./types.js";

/**
 * The PostgreSQL store: one approval system for a team on many machines. Same contract as the file
 * store (types.ts); what PostgreSQL adds:
 * - the database's clock is the store's clock (now(), consumption and audit times, expiry at consume);
 * - single use is one atomic INSERT … ON CONFLICT DO NOTHING (A12);
 * - audit appends go through guard_append_audit() (migration 2), which serialises them across every
 *   client and computes seq, prev, time and hash in the database; guard checks what it returns;
 * - a waiting run is woken by LISTEN/NOTIFY (a trigger announces every approval and consumption), with
 *   a bounded wait as the fallback poll and a fresh LISTEN connection whenever the old one drops.
 *
 * URL: postgres://user@host:port/db with the standard parameters (sslmode, …) and PG* variables, which
 * pg reads itself, plus guard's own `schema=name` (stripped before pg sees the URL) to keep guard's
 * tables in their own schema, created when missing. `pg` is imported only when this store is opened.
 */

type Pg = (typeof import("pg"))["default"];

export interface PostgresStoreOptions {
  /** Give up connecting after this long, so that CI never hangs on an unreachable server. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Longest single waitForChange before the caller re-reads anyway (the fallback poll, in case a
   * notification is missed). Default 1000.
   */
  pollMs?: number;
  /** Create or upgrade the schema when it is behind (default true); false refuses an outdated schema. */
  migrate?: boolean;
  /**
   * Connections in the pool. Default 1: a guard command's queries are short and one follows another (a
   * few run side by side and queue for it), and fifty guards started at once (an approval race, a CI
   * fan-out) then take fifty of the server's connections, not two hundred.
   */
  maxConnections?: number;
  /** Rows per query when reading the audit log. Default 10,000. */
  auditPageSize?: number;
  /** Requests per query (with their approvals) when `audit verify` reads every record. Default 1,000. */
  recordPageSize?: number;
  /**
   * How long to keep retrying a connection the server turns away for want of room (too many
   * connections, for the server or the role; the server starting up). Default 5000.
   */
  busyRetryMs?: number;
  /**
   * The bound on every statement, lock waits included, but for a migration's statements once it holds
   * the migration lock and guard_prune's (their own, longer bounds). Default 30,000.
   */
  statementTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_POLL_MS = 1_000;
/** Retired requests read a page at a time when a prune archives them. */
const RETIRED_PAGE = 500;
const DEFAULT_BUSY_RETRY_MS = 5_000;
/**
 * SQLSTATEs of a server that turns a connection away before any statement ran: too many connections
 * (53300: the server's max_connections, or a role's or database's CONNECTION LIMIT) and "the database
 * system is starting up" (57P03). Nothing was executed, so trying again is safe; fifty guards started at
 * once (an approval race, a CI fan-out) can meet this for a moment.
 */
const BUSY_SQLSTATES = new Set(["53300", "57P03"]);

/**
 * `connectOrQuery`, tried again with a growing, jittered pause while the server turns connections away
 * (BUSY_SQLSTATES), for up to `busyRetryMs`; every other error at once.
 */
async function retryWhileBusy<T>(target: Target, connectOrQuery: () => Promise<T>): Promise<T> {
  const giveUp = Date.now() + target.busyRetryMs;
  for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
    try {
      return await connectOrQuery();
    } catch (err) {
      const code = errorCode(err);
      const wait = pause * (0.5 + Math.random());
      if (code === undefined || !BUSY_SQLSTATES.has(code) || Date.now() + wait > giveUp) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
/** Bounds every statement, lock waits included: a stuck peer turns into an error, never a hang. */
const STATEMENT_TIMEOUT_MS = 30_000;
/**
 * guard_prune's statement alone: it checks and deletes everything it retires in one statement, which takes
 * about 3 s per million events retired (docs/benchmarks.md), so the 30 s bound of every other statement
 * would refuse a prune of ten million. It waits for no peer longer than its own lock_timeout (10 s, for the
 * append lock, held only for the checkpoint) and blocks no run while it deletes (schema version 7).
 */
export const PRUNE_STATEMENT_TIMEOUT_MS = 30 * 60_000;
/**
 * A migration's statements, once it holds the migration lock: some build indexes over everything the store
 * holds (version 5 indexes the audit log five ways, several minutes for a million events on a busy
 * machine), which the 30 s bound would cut off on every attempt, so an old store with a long history could
 * never be upgraded. The wait for the lock itself keeps the 30 s bound.
 */
export const MIGRATION_STATEMENT_TIMEOUT_MS = 60 * 60_000;
/** readAudit fetches this many rows per query (keyset pagination), never the whole log. */
const DEFAULT_AUDIT_PAGE = 10_000;
/** Requests a page of readRecords (with their approvals): few round trips, bounded memory. */
const DEFAULT_RECORD_PAGE = 1_000;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const AUDIT_TYPE_RE = new RegExp(AUDIT_TYPE_PATTERN);
const STORE_HINT = "check the store URL (--store, GUARD_STORE or store: in guard.config.yaml), the PG* variables and that the server is up; nothing was run";

let pgModule: Promise<Pg> | undefined;
/** pg is CommonJS; its ESM wrapper's default export is the module object. */
const loadPg = (): Promise<Pg> => (pgModule ??= import("pg").then((m) => m.default));

/** Where the store is, as pg will resolve it, and how to say so without the password. */
interface Target {
  config: PoolConfig;
  schema: string | null;
  /** host:port/database, for messages. */
  where: string;
  description: string;
  /** Only to scrub it from any message that might echo it. */
  password: string | null;
  pollMs: number;
  auditPage: number;
  recordPage: number;
  busyRetryMs: number;
}

interface Connection {
  pool: Pool;
  target: Target;
}

export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<Store> {
  const pg = await loadPg();
  const conn = connect(pg, url, opts);
  try {
    const version = await schemaVersion(conn);
    if (version > SCHEMA_VERSION) throw newerSchema(conn.target, version);
    if (version < SCHEMA_VERSION) {
      if (opts.migrate === false) {
        throw new GuardError(
          ExitCode.IO,
          `the PostgreSQL store at ${conn.target.where} has schema version ${version}; this guard needs ${SCHEMA_VERSION}`,
          "run `guard store migrate` (as the role that owns guard's tables) and retry",
        );
      }
      await migrate(conn);
    }
  } catch (err) {
    await conn.pool.end().catch(() => undefined);
    throw err;
  }
  return new PostgresStore(pg, conn);
}

/** Create or upgrade the schema (`guard store migrate`). Idempotent; safe when many processes race. */
export async function migratePostgres(url: string, opts: Pick<PostgresStoreOptions, "connectTimeoutMs" | "statementTimeoutMs"> = {}): Promise<{ from: number; to: number }> {
  const conn = connect(await loadPg(), url, opts);
  try {
    return await migrate(conn);
  } finally {
    await conn.pool.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Connection and errors
// ---------------------------------------------------------------------------------------------

function connect(pg: Pg, url: string, opts: PostgresStoreOptions): Connection {
  const target = resolveTarget(pg, url, opts);
  const pool = new pg.Pool({ ...target.config, max: opts.maxConnections ?? 1, idleTimeoutMillis: 10_000, allowExitOnIdle: true });
  // An idle pooled connection that dies (server restart) is dropped by the pool; the next query
  // reconnects or fails with a proper error. Without a listener the process would crash.
  pool.on("error", () => undefined);
  return { pool, target };
}

function resolveTarget(pg: Pg, url: string, opts: PostgresStoreOptions): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError("the PostgreSQL store URL could not be parsed (not shown: it may hold a password)", "use postgres://user@host:5432/dbname, optionally with ?sslmode=…&schema=…");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw usageError(`not a PostgreSQL URL: it starts with ${JSON.stringify(parsed.protocol)}`, "use postgres://user@host:5432/dbname");
  }
  const schema = parsed.searchParams.get("schema");
  if (schema !== null) {
    if (!SCHEMA_RE.test(schema)) {
      throw usageError(`the store URL's schema ${JSON.stringify(schema)} is not a plain lowercase identifier`, "use letters a-z, digits and _ (at most 63), e.g. ?schema=access_guard");
    }
    // Not a libpq parameter: pass it on as the session's search_path instead.
    parsed.searchParams.delete("schema");
    const options = parsed.searchParams.get("options");
    parsed.searchParams.set("options", `${options ? `${options} ` : ""}-c search_path=${schema}`);
  }
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const config: PoolConfig = {
    connectionString: parsed.toString(),
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: opts.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: opts.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
    fallback_application_name: "access-guard",
    keepAlive: true,
  };
  // pg's own resolution (URL, then PG* variables, then defaults) tells where it will really connect;
  // constructing a client opens no connection (it does read sslrootcert/sslcert/sslkey files).
  let probe: Client;
  try {
    probe = new pg.Client(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const password = parsed.password ? safeDecode(parsed.password) : "";
    throw usageError(
      `the PostgreSQL store URL cannot be used: ${password ? message.split(password).join("***") : message}`,
      "check its parameters, e.g. that sslrootcert, sslcert and sslkey name readable files",
    );
  }
  const where = `${probe.host}:${probe.port}/${probe.database ?? ""}`;
  return {
    config,
    schema,
    where,
    description: `postgres://${probe.user ? `${probe.user}@` : ""}${where}${schema ? `?schema=${schema}` : ""}`,
    password: parsed.password ? safeDecode(parsed.password) : (process.env.PGPASSWORD ?? null),
    pollMs: opts.pollMs ?? DEFAULT_POLL_MS,
    busyRetryMs: opts.busyRetryMs ?? DEFAULT_BUSY_RETRY_MS,
    auditPage: Math.max(1, Math.floor(opts.auditPageSize ?? DEFAULT_AUDIT_PAGE)),
    recordPage: Math.max(1, Math.floor(opts.recordPageSize ?? DEFAULT_RECORD_PAGE)),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Node socket and DNS errors, and SQLSTATE classes, that mean "the store is not there for us". */
const UNREACHABLE_NODE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EPIPE", "ENOENT"]);
const UNREACHABLE_SQLSTATE = /^(08|28|3D|53|57P)/;
/** Five characters; no SQLSTATE class starts with E, which keeps Node's EPIPE and the like out. */
const SQLSTATE_RE = /^[0-9A-DF-Z][0-9A-Z]{4}$/;

function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  // Node 20 tries every address of a host name and reports an AggregateError of the failures.
  const first = (err as { errors?: unknown[] }).errors?.[0];
  return first === undefined ? undefined : errorCode(first);
}

const PRUNE_AGAIN = "nothing was removed; run guard store prune again";
/** guard_prune's message when an event after the plan names a retired request (schema version 7). */
const NAMED_BY_NEW_EVENT = /^access-guard: prune refused: request (r-[a-z2-7]{20}), which this prune retires, was named by a new audit event \(([a-z0-9_.-]{1,100}|of no type), seq ([0-9]{1,19})\)$/;

/**
 * The two refusals of guard_prune (schema version 7) that say "the plan no longer holds", as the file
 * store words them (74, run the prune again); null for any other error. Only what the patterns admit
 * (a request id, an event type, a number) is taken from the server's message.
 */
function pruneRefusal(target: Target, err: unknown): GuardError | null {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : "";
  if (code === "40001") {
    const m = NAMED_BY_NEW_EVENT.exec(message);
    if (!m) return null;
    const what = m[2] === "of no type" ? `seq ${m[3]}` : `${m[2]}, seq ${m[3]}`;
    return new GuardError(
      ExitCode.IO,
      `request ${m[1]}, which this prune retires, was named by a new audit event (${what}) while the PostgreSQL store at ${target.where} was being pruned; ${PRUNE_AGAIN}`,
      "the next prune keeps that request until a later one retires it with its new events",
      [],
      "io",
    );
  }
  if (code === "55P03" && message === "access-guard: prune refused: another guard store prune is under way") {
    return new GuardError(ExitCode.IO, `another guard store prune is under way on the PostgreSQL store at ${target.where}; ${PRUNE_AGAIN}`, "run one prune at a time (a daily cron job, say)", [], "io");
  }
  return null;
}

/** Turn anything pg or the network threw into a GuardError that names the store and never its password. */
function storeError(target: Target, err: unknown, doing: string): GuardError {
  if (err instanceof GuardError) return err;
  const code = errorCode(err);
  const raw = err instanceof Error && err.message ? err.message : String(err);
  let reason: string;
  if (code === "ECONNREFUSED") reason = "connection refused";
  else if (code === "ENOTFOUND" || code === "EAI_AGAIN") reason = "unknown host";
  else if (code === "ENOENT") reason = "no server socket at that path";
  else if (code === undefined && /timeout|timed out/i.test(raw)) reason = `no answer within ${(target.config.connectionTimeoutMillis ?? 0) / 1000} s (${raw})`;
  else reason = raw;
  if (target.password) reason = reason.split(target.password).join("***");
  // SQLSTATEs say precisely what happened; client-side errors (no SQLSTATE) are about the connection.
  const sqlstate = code !== undefined && SQLSTATE_RE.test(code) ? code : undefined;
  const unreachable = sqlstate
    ? UNREACHABLE_SQLSTATE.test(sqlstate)
    : (code !== undefined && UNREACHABLE_NODE.has(code)) || /timeout|timed out|Connection terminated/i.test(raw);
  if (unreachable) return new GuardError(ExitCode.IO, `cannot reach the PostgreSQL store at ${target.where}: ${reason}`, STORE_HINT, [], "io");
  const hint =
    sqlstate === "42501"
      ? "this role lacks a privilege guard needs: see docs/postgres.md for the roles (the owner runs `guard store migrate`)"
      : sqlstate === "55P03"
        ? "another session has held a lock guard needs for seconds — an audit append left in an open transaction? A database administrator can find and end it (docs/postgres.md, the audit log); nothing was run"
        : STORE_HINT;
  return new GuardError(ExitCode.IO, `the PostgreSQL store at ${target.where} failed while ${doing}: ${reason}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ""}`, hint, [], "io");
}

async function inTransaction<T>(conn: Connection, doing: string, work: (c: PoolClient) => Promise<T>): Promise<T> {
  let client: PoolClient;
  try {
    client = await retryWhileBusy(conn.target, () => conn.pool.connect());
  } catch (err) {
    throw storeError(conn.target, err, doing);
  }
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    client.release();
    return result;
  } catch (err) {
    // A connection that cannot even roll back is broken: destroy it rather than return it to the pool.
    await client.query("ROLLBACK").then(
      () => client.release(),
      () => client.release(true),
    );
    throw storeError(conn.target, err, doing);
  }
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

async function schemaVersion(conn: Connection): Promise<number> {
  try {
    const r = await retryWhileBusy(conn.target, () => conn.pool.query<{ v: number }>("SELECT coalesce(max(version), 0)::int AS v FROM guard_schema_version"));
    return r.rows[0]?.v ?? 0;
  } catch (err) {
    if (errorCode(err) === "42P01") return 0; // no version table (or no schema) yet
    throw storeError(conn.target, err, "reading the schema version");
  }
}

function newerSchema(target: Target, version: number): GuardError {
  return new GuardError(
    ExitCode.IO,
    `the PostgreSQL store at ${target.where} has schema version ${version}, newer than this guard knows (${SCHEMA_VERSION})`,
    "upgrade guard on this machine; an older guard must not write to a newer schema",
  );
}

/**
 * Every migration runs in one transaction under an advisory lock, so concurrent first starts queue up
 * and all but the first find nothing left to do. DDL is transactional in PostgreSQL: a failed migration
 * leaves the schema as it was.
 */
async function migrate(conn: Connection): Promise<{ from: number; to: number }> {
  const { schema } = conn.target;
  return inTransaction(conn, "migrating the schema", async (c) => {
    try {
      await c.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK_CLASS, LOCK_MIGRATE]);
    } catch (err) {
      if (errorCode(err) !== "57014") throw err;
      const waited = Math.round((conn.target.config.statement_timeout || 0) / 1000);
      throw new GuardError(
        ExitCode.IO,
        `another session has held the migration lock of the PostgreSQL store at ${conn.target.where} for over ${waited} s: another guard is migrating it (a long history takes minutes), or a session is stuck; nothing was run`,
        "wait for the migration to finish and retry; a database administrator can see who holds it in pg_locks (locktype advisory) and pg_stat_activity (docs/postgres.md)",
        [],
        "io",
      );
    }
    await c.query(`SET LOCAL statement_timeout = ${MIGRATION_STATEMENT_TIMEOUT_MS}`);
    if (schema) {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`); // validated identifier
      // search_path skips a schema that did not exist when the session started: name it again.
      await c.query("SELECT set_config('search_path', $1, true)", [schema]);
    }
    await c.query(VERSION_TABLE_SQL);
    const r = await c.query<{ v: number }>("SELECT coalesce(max(version), 0)::int AS v FROM guard_schema_version");
    const from = r.rows[0]?.v ?? 0;
    if (from > SCHEMA_VERSION) throw newerSchema(conn.target, from);
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await c.query(m.sql);
      await c.query("INSERT INTO guard_schema_version (version, description) VALUES ($1, $2)", [m.version, m.description]);
    }
    return { from, to: Math.max(from, SCHEMA_VERSION) };
  });
}

// ---------------------------------------------------------------------------------------------
// Reading rows back: the database is untrusted (a store writer can plant anything)
// ---------------------------------------------------------------------------------------------

function parseRow(target: Target, what: string, text: string): Record<string, unknown> {
  if (jsonTooDeep(text)) throw corrupt(target, what, TOO_DEEP);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(target, what, "not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt(target, what, "not a JSON object");
  return value as Record<string, unknown>;
}

function corrupt(target: Target, what: string, problem: string): GuardError {
  return integrityError(
    `${what} in the PostgreSQL store at ${target.where} is corrupt: ${problem}`,
    "someone with write access to the database changed it; run `guard audit verify` and investigate before trusting this store",
  );
}

/** A malformed record handed to the store is a bug in the caller, not a store problem. */
function refuseMalformed(problem: string | null, what: string): void {
  if (problem !== null) throw new GuardError(ExitCode.INTERNAL, `refusing to store a malformed ${what}: ${problem}`);
}

function checkId(id: unknown, what: string): string {
  if (typeof id !== "string" || !REQUEST_ID_RE.test(id)) {
    throw usageError(`invalid ${what} ${JSON.stringify(id)}`, "request ids look like r-abcdefghijklmnopqrst (as printed by `guard request` and `guard requests`)");
  }
  return id;
}

/** Index columns get a normalised time; the body keeps the signed bytes. */
const isoOf = (value: string): string => new Date(Date.parse(value)).toISOString();

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

interface BodyRow {
  body: string;
}

class PostgresStore implements Store {
  readonly description: string;
  private readonly listener: ChangeListener;
  private closed = false;

  constructor(
    pg: Pg,
    private readonly conn: Connection,
  ) {
    this.description = conn.target.description;
    this.listener = new ChangeListener(() => new pg.Client(conn.target.config), conn.target.pollMs);
  }

  /** Use after close() is a bug in the caller, not an outage. */
  private assertOpen(doing: string): void {
    if (this.closed) throw new GuardError(ExitCode.INTERNAL, `the store ${this.description} is closed (while ${doing})`);
  }

  /**
   * One page of rows as arrays, asked for ahead of its reader: a failure is the store's error, and is no
   * unhandled rejection when the reader has stopped before awaiting it.
   */
  private pageAhead<R extends unknown[]>(doing: string, text: string, values: unknown[]): Promise<R[]> {
    this.assertOpen(doing);
    const p = this.conn.pool.query<R>({ text, values, rowMode: "array" }).then(
      (r) => r.rows,
      (err: unknown) => Promise.reject(storeError(this.conn.target, err, doing)),
    );
    p.catch(() => undefined);
    return p;
  }

  private async query<R extends QueryResultRow>(doing: string, text: string, values?: unknown[]): Promise<QueryResult<R>> {
    this.assertOpen(doing);
    try {
      return await retryWhileBusy(this.conn.target, () => this.conn.pool.query<R>(text, values));
    } catch (err) {
      throw storeError(this.conn.target, err, doing);
    }
  }

  async now(): Promise<number> {
    // clock_timestamp(), not now(): the real time of the call, not of a transaction's start (A11).
    const r = await this.query<{ ms: number }>("reading the clock", "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms");
    const ms = r.rows[0]?.ms;
    if (typeof ms !== "number" || !Number.isFinite(ms)) throw storeError(this.conn.target, new Error("the server returned no time"), "reading the clock");
    return ms;
  }

  async putRequest(signed: SignedRequest): Promise<void> {
    const id = checkId(signed?.request?.id, "request id");
    refuseMalformed(requestProblem(signed, id), `request ${id}`);
    const r = await this.query(
      `storing request ${id}`,
      "INSERT INTO guard_requests (id, body, created_at, expires_at, binding_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING id",
      [id, canonicalJson(signed), isoOf(signed.request.createdAt), isoOf(signed.request.expiresAt), requestBindingKey(signed.request)],
    );
    if (r.rowCount !== 1) {
      throw integrityError(`request ${id} already exists in ${this.description}: requests are immutable`, "create a new request instead (`guard request`)");
    }
  }

  async getRequest(id: string): Promise<SignedRequest | null> {
    checkId(id, "request id");
    const r = await this.query<BodyRow>(`reading request ${id}`, "SELECT body FROM guard_requests WHERE id = $1", [id]);
    const row = r.rows[0];
    return row ? this.requestFrom(id, row.body) : null;
  }

  async listRequests(): Promise<RequestList> {
    const r = await this.query<BodyRow & { id: string }>("listing requests", "SELECT id, body FROM guard_requests ORDER BY created_at DESC, id DESC");
    return this.decodeRows(r.rows);
  }

  /**
   * A page of requests at a time (keyset on id), each joined with its approvals in one query: no round
   * trip per record. The next page is asked for before the current one is handed out.
   */
  readRecords(): AsyncIterable<RecordBatch> {
    return this.recordBatches(true);
  }

  /** readRecords, or (for a prune's plan, which needs the requests only) without reading approvals: each `[]`. */
  private async *recordBatches(withApprovals: boolean): AsyncIterable<RecordBatch> {
    const size = this.conn.target.recordPage;
    type Row = [string, string, string | null, string | null];
    const requests = "SELECT id, body FROM guard_requests WHERE $1::text IS NULL OR id > $1::text ORDER BY id LIMIT $2";
    const page = (after: string | null): Promise<Row[]> => {
      return withApprovals
        ? this.pageAhead<Row>(
            "reading requests and approvals",
            `WITH page AS (${requests}) SELECT p.id, p.body, a.ord::text, a.body FROM page p LEFT JOIN guard_approvals a ON a.request_id = p.id ORDER BY p.id, a.ord`,
            [after, size],
          )
        : this.pageAhead<Row>("reading requests", `SELECT id, body, NULL::text, NULL::text FROM (${requests}) p ORDER BY id`, [after, size]);
    };
    let next: Promise<Row[]> | null = page(null);
    while (next !== null) {
      const rows: Row[] = await next;
      const batch: RecordBatch = { records: [], damaged: [] };
      let ids = 0;
      for (let i = 0; i < rows.length; ) {
        const id: string = rows[i]![0];
        let j = i;
        while (j < rows.length && rows[j]![0] === id) j++;
        ids++;
        const last = j === rows.length;
        if (last) next = ids === size ? page(id) : null;
        const [at, end] = [i, j];
        i = j;
        let request: SignedRequest;
        try {
          request = this.requestFrom(id, rows[at]![1]);
        } catch (e) {
          // As listRequests lists it (decodeRows): one corrupt row affects only itself (H4).
          if (!(e instanceof GuardError)) throw e;
          batch.damaged.push({ id, where: `request ${id} in the PostgreSQL store at ${this.conn.target.where}`, problem: e.message });
          continue;
        }
        const approvals = approvalsOrDamaged(() => {
          const out: SignedApproval[] = [];
          for (let k = at; k < end; k++) {
            const [, , ord, body] = rows[k]!;
            if (ord !== null && body !== null) out.push(this.approvalFrom(id, ord, body));
          }
          return out;
        });
        batch.records.push({ request, approvals });
      }
      if (rows.length === 0) next = null;
      yield batch;
    }
  }

  /** Unexpired rows with this key, and unexpired rows stored before keys existed (schema version 3). */
  async findRequestsByBinding(key: string, now: number): Promise<RequestList> {
    if (!BINDING_KEY_RE.test(key)) throw usageError(`invalid binding key ${JSON.stringify(key)}`);
    return this.listWhere(
      "finding the request for this run",
      `SELECT id, body FROM guard_requests WHERE binding_key = $1 AND expires_at > to_timestamp($2::float8 / 1000)
       UNION ALL
       SELECT id, body FROM guard_requests WHERE binding_key IS NULL AND expires_at > to_timestamp($2::float8 / 1000)`,
      [key, now],
    );
  }

  async listRequestIds(prefix: string): Promise<string[]> {
    if (!REQUEST_ID_PREFIX_RE.test(prefix)) throw usageError(`invalid request id prefix ${JSON.stringify(prefix)}`);
    const r = await this.query<{ id: string }>("listing request ids", "SELECT id FROM guard_requests WHERE starts_with(id, $1) ORDER BY id COLLATE \"C\"", [prefix]);
    return r.rows.map((row) => row.id);
  }

  async listOpenRequests(now: number): Promise<RequestList> {
    return this.listWhere(
      "listing open requests",
      `SELECT r.id, r.body FROM guard_requests r
        WHERE r.expires_at > to_timestamp($1::float8 / 1000)
          AND NOT EXISTS (SELECT 1 FROM guard_consumptions c WHERE c.request_id = r.id)`,
      [now],
    );
  }

  /**
   * The rows the break-glass index holds (schema version 6: every row guard may read as break-glass,
   * computed by the database from the body), keeping those whose record says break-glass; a row that
   * cannot be read is listed as damaged.
   */
  async listBreakGlassRequests(): Promise<RequestList> {
    const listed = await this.listWhere("listing break-glass requests", `SELECT id, body FROM guard_requests WHERE ${BREAK_GLASS_PREDICATE}`, []);
    return { requests: listed.requests.filter((r) => r.request.breakGlass), damaged: listed.damaged };
  }

  private async listWhere(what: string, text: string, values: unknown[]): Promise<RequestList> {
    const r = await this.query<BodyRow & { id: string }>(what, `SELECT id, body FROM (${text}) q`, values);
    const out = this.decodeRows(r.rows);
    out.requests.sort((a, b) => (a.request.createdAt < b.request.createdAt ? 1 : a.request.createdAt > b.request.createdAt ? -1 : a.request.id < b.request.id ? 1 : -1));
    return out;
  }

  /** Rows to requests, in order; one corrupt row is listed as damaged and the others still listed (SECURITY H4). */
  private decodeRows(rows: ReadonlyArray<BodyRow & { id: string }>): RequestList {
    const out: RequestList = { requests: [], damaged: [] };
    for (const row of rows) {
      try {
        out.requests.push(this.requestFrom(row.id, row.body));
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        out.damaged.push({ id: row.id, where: `request ${row.id} in the PostgreSQL store at ${this.conn.target.where}`, problem: e.message });
      }
    }
    return out;
  }

  private requestFrom(id: string, body: string): SignedRequest {
    const what = `request ${id}`;
    const v = parseRow(this.conn.target, what, body);
    const problem = requestProblem(v, id);
    if (problem) throw corrupt(this.conn.target, what, problem);
    return v as unknown as SignedRequest;
  }

  async putApproval(requestId: string, approval: SignedApproval): Promise<void> {
    checkId(requestId, "request id");
    refuseMalformed(approvalProblem(approval, requestId), `approval for ${requestId}`);
    const body = canonicalJson(approval);
    // Identical re-submissions share a digest and are absorbed; the insert trigger wakes waiting runs.
    await this.query(
      `storing an approval for ${requestId}`,
      "INSERT INTO guard_approvals (request_id, digest, body) VALUES ($1, $2, $3) ON CONFLICT (request_id, digest) DO NOTHING",
      [requestId, sha256Hex(body), body],
    );
  }

  async listApprovals(requestId: string): Promise<SignedApproval[]> {
    checkId(requestId, "request id");
    const r = await this.query<BodyRow & { ord_text: string }>(
      `reading approvals of ${requestId}`,
      "SELECT ord::text AS ord_text, body FROM guard_approvals WHERE request_id = $1 ORDER BY ord",
      [requestId],
    );
    return r.rows.map((row) => this.approvalFrom(requestId, row.ord_text, row.body));
  }

  private approvalFrom(requestId: string, ordText: string, body: string): SignedApproval {
    const what = `approval #${ordText} of ${requestId}`;
    const v = parseRow(this.conn.target, what, body);
    const problem = approvalProblem(v, requestId);
    if (problem) throw corrupt(this.conn.target, what, problem);
    return v as unknown as SignedApproval;
  }

  /**
   * One statement: the insert wins for exactly one caller (A12), and only while the request, when this
   * store holds it, is unexpired by the database's clock (A10, A11).
   */
  async consume(record: Consumption): Promise<boolean> {
    const id = checkId(record?.requestId, "request id");
    refuseMalformed(consumptionProblem(record, id), `consumption of ${id}`);
    const r = await this.query<{ won: number; expired: boolean | null; expires_at: string | null }>(
      `consuming request ${id}`,
      `WITH req AS (
         SELECT expires_at <= clock_timestamp() AS expired, expires_at FROM guard_requests WHERE id = $1::text
       ), ins AS (
         INSERT INTO guard_consumptions (request_id, body)
         SELECT $1::text, $2::text WHERE NOT EXISTS (SELECT 1 FROM req WHERE expired)
         ON CONFLICT (request_id) DO NOTHING
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM ins)::int AS won, (SELECT expired FROM req) AS expired,
              (SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM req) AS expires_at`,
      [id, canonicalJson(record)],
    );
    const row = r.rows[0];
    if (row?.expired) {
      throw deniedError(`request ${id} expired at ${row.expires_at} by the store's clock; nothing was run`, "create a new request and have it approved again");
    }
    return row?.won === 1;
  }

  async getConsumption(requestId: string): Promise<Consumption | null> {
    checkId(requestId, "request id");
    const r = await this.query<BodyRow>(`reading the consumption of ${requestId}`, "SELECT body FROM guard_consumptions WHERE request_id = $1", [requestId]);
    const row = r.rows[0];
    return row ? this.consumptionFrom(requestId, row.body) : null;
  }

  private consumptionFrom(requestId: string, body: string): Consumption {
    const what = `consumption of ${requestId}`;
    const v = parseRow(this.conn.target, what, body);
    const problem = consumptionProblem(v, requestId);
    if (problem) throw corrupt(this.conn.target, what, problem);
    return v as unknown as Consumption;
  }

  async listConsumptions(): Promise<ConsumptionList> {
    const r = await this.query<BodyRow & { request_id: string }>("listing consumptions", "SELECT request_id, body FROM guard_consumptions ORDER BY request_id");
    const out: ConsumptionList = { consumptions: [], damaged: [] };
    for (const row of r.rows) {
      try {
        out.consumptions.push(this.consumptionFrom(row.request_id, row.body));
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        out.damaged.push({ id: row.request_id, where: `consumption of ${row.request_id} in the PostgreSQL store at ${this.conn.target.where}`, problem: e.message });
      }
    }
    return out;
  }

  async waitForChange(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    checkId(requestId, "request id");
    this.assertOpen("waiting for a change");
    await this.listener.wait(requestId, timeoutMs, signal);
  }

  async watchRequest(requestId: string): Promise<RequestWatch> {
    checkId(requestId, "request id");
    this.assertOpen("watching a request");
    return this.listener.watch(requestId);
  }

  /**
   * Through guard_append_audit() (migration 2), the only way a non-owner can add to the log: the
   * database takes the append lock and decides seq, prev, time and the hash, so a row someone else left
   * at the head (however damaged) is chained after, never a reason to fail; `guard audit verify`
   * reports it. The event that comes back is checked here against guard's own computation: a function
   * that hashes differently (replaced by someone, a database that is not UTF8) is an integrity error.
   */
  async appendAudit(draft: AuditDraft): Promise<AuditEvent> {
    this.assertOpen("appending to the audit log");
    // As chainEvent normalises the draft: JSON's meaning for Dates and undefined, keys sorted.
    const plain = JSON.parse(JSON.stringify({ type: draft.type, actor: draft.actor, data: draft.data })) as Partial<AuditDraft>;
    if (typeof plain.type !== "string" || !AUDIT_TYPE_RE.test(plain.type) || plain.type.length > 100) {
      throw new GuardError(ExitCode.INTERNAL, `audit event type ${JSON.stringify(plain.type)} is not lowercase words joined by dots`);
    }
    const r = await this.query<{ seq_text: string; prev: string; time: string; hash: string; body: string }>(
      "appending to the audit log",
      "SELECT out_seq::text AS seq_text, out_prev AS prev, out_time AS time, out_hash AS hash, out_body AS body FROM guard_append_audit($1, $2, $3)",
      [plain.type, canonicalJson(plain.actor), canonicalJson(plain.data)],
    );
    const row = r.rows[0];
    if (!row) throw storeError(this.conn.target, new Error("guard_append_audit returned no event"), "appending to the audit log");
    const seq = Number(row.seq_text);
    const event = Number.isSafeInteger(seq) && seq >= 1 ? chainEvent(seq > 1 ? { seq: seq - 1, hash: row.prev } : null, draft, row.time) : null;
    if (!event || event.prev !== row.prev || event.hash !== row.hash || canonicalJson(event) !== row.body) {
      throw integrityError(
        `the PostgreSQL store at ${this.conn.target.where} stored audit event ${row.seq_text} differently from how guard computes it`,
        "the function guard_append_audit was changed, or the database is not UTF8; run `guard audit verify` and have the owner compare the function with migration 2",
      );
    }
    return event;
  }

  /**
   * A run's check that its request was never consumed before (S3), without reading the whole log: the
   * index of migration 2 holds the requestId of every canonical request.consumed row. A candidate row
   * that cannot be read (only possible from before migration 2) is skipped, as the Store contract says.
   */
  async *consumedEvents(requestId: string): AsyncIterable<AuditEvent> {
    checkId(requestId, "request id");
    const r = await this.query<{ seq_text: string; hash: string; body: string }>(
      `reading the audit log for request ${requestId}`,
      `SELECT seq::text AS seq_text, hash, body FROM guard_audit
        WHERE ${CONSUMED_PREDICATE} AND ${CONSUMED_REQUEST_ID} = $1 ORDER BY seq`,
      [requestId],
    );
    for (const row of r.rows) {
      let event: AuditEvent;
      try {
        event = this.auditEventFrom(row.seq_text, row.hash, row.body);
      } catch (err) {
        if (err instanceof GuardError) continue;
        throw err;
      }
      yield event;
    }
  }

  /**
   * `audit log` with filters, through the expression indexes of migration 4: by request, else by time,
   * else by type (the most selective first; the command applies every filter exactly). Each query also
   * takes the rows whose indexed value is unknown (NULL: a body that does not decode), which are then
   * read and refused (65) as readAudit would. --actor alone reads the whole log.
   */
  async *readAuditFiltered(filter: AuditFilter): AsyncIterable<AuditEvent> {
    const q = auditFilterQuery(filter);
    if (q === null) {
      yield* this.readAudit();
      return;
    }
    for await (const rows of this.auditPages(q.where, q.values)) {
      for (const [seqText, hash, body] of rows) yield this.auditEventFrom(seqText, hash, body);
    }
  }

  /** In sequence order, one page at a time (keyset on seq): a long log is never held in memory. */
  async *readAudit(): AsyncIterable<AuditEvent> {
    for await (const rows of this.auditPages()) {
      for (const [seqText, hash, body] of rows) yield this.auditEventFrom(seqText, hash, body);
    }
  }

  /**
   * audit verify: each body (the canonical text of its event) goes to the sink's fast path first, and
   * is parsed only when the sink declines it. Either way the row's seq and hash columns must be the
   * event's: appendAudit chains on the columns, the verifier on the bodies.
   */
  async feedAudit(sink: AuditLineSink): Promise<void> {
    let bytes = Buffer.allocUnsafe(1 << 16);
    for await (const rows of this.auditPages()) {
      for (const [seqText, hash, body] of rows) {
        // UTF-8 needs at most 3 bytes for each UTF-16 unit, so the body always fits whole.
        if (body.length * 3 > bytes.length) bytes = Buffer.allocUnsafe(body.length * 3);
        const n = bytes.write(body, 0, "utf8");
        if (sink.pushLine(bytes, 0, n)) {
          if (String(sink.headSeq) !== seqText || sink.headHash !== hash) throw this.rowDisagrees(seqText);
        } else {
          sink.push(this.auditEventFrom(seqText, hash, body));
        }
      }
    }
  }

  /**
   * The audit log page by page, as [seq::text, hash, body] rows: arrays, not objects, since pg's row
   * decoding is much of the cost of reading a long log. Each next page is asked for before the current
   * one is handed out, so the server reads it while the caller checks this one.
   */
  private async *auditPages(where = "true", extra: unknown[] = []): AsyncGenerator<Array<[string, string, string]>> {
    const size = this.conn.target.auditPage;
    const page = (after: string): Promise<Array<[string, string, string]>> => {
      return this.pageAhead<[string, string, string]>(
        "reading the audit log",
        `SELECT seq::text AS seq_text, hash, body FROM guard_audit WHERE seq > $1::bigint AND ${where} ORDER BY seq LIMIT $2`,
        [after, size, ...extra],
      );
    };
    let next = page("0");
    for (;;) {
      const rows = await next;
      const last = rows.length === size ? rows[rows.length - 1] : undefined;
      if (last) next = page(last[0]);
      yield rows;
      if (!last) return;
    }
  }

  private auditEventFrom(seqText: string, hash: string, body: string): AuditEvent {
    const what = `audit event ${seqText}`;
    const e = parseRow(this.conn.target, what, body);
    const problem = auditShapeProblem(e);
    if (problem) throw corrupt(this.conn.target, what, problem);
    if (String(e.seq) !== seqText || e.hash !== hash) throw this.rowDisagrees(seqText);
    return e as unknown as AuditEvent;
  }

  /**
   * The records a prune archives, RETIRED_PAGE requests at a time: three queries a page (requests,
   * approvals, consumptions), not two or three a request. Each row is checked as getRequest,
   * listApprovals and getConsumption check it.
   */
  private async *retiredRecords(ids: readonly string[]): AsyncIterable<RetiredRecord> {
    for (let i = 0; i < ids.length; i += RETIRED_PAGE) {
      const page = ids.slice(i, i + RETIRED_PAGE);
      const [requests, approvals, consumptions] = await Promise.all([
        this.query<BodyRow & { id: string }>("reading the requests to archive", "SELECT id, body FROM guard_requests WHERE id = ANY($1::text[])", [page]),
        this.query<BodyRow & { request_id: string; ord_text: string }>(
          "reading the approvals to archive",
          "SELECT request_id, ord::text AS ord_text, body FROM guard_approvals WHERE request_id = ANY($1::text[]) ORDER BY request_id, ord",
          [page],
        ),
        this.query<BodyRow & { request_id: string }>("reading the consumptions to archive", "SELECT request_id, body FROM guard_consumptions WHERE request_id = ANY($1::text[])", [page]),
      ]);
      const bodies = new Map(requests.rows.map((r) => [r.id, r.body]));
      const approvalsOf = new Map<string, SignedApproval[]>();
      for (const row of approvals.rows) {
        let mine = approvalsOf.get(row.request_id);
        if (mine === undefined) approvalsOf.set(row.request_id, (mine = []));
        mine.push(this.approvalFrom(row.request_id, row.ord_text, row.body));
      }
      const consumptionOf = new Map(consumptions.rows.map((r) => [r.request_id, r.body]));
      for (const id of page) {
        const body = bodies.get(id);
        if (body === undefined) throw new GuardError(ExitCode.IO, `request ${id} was removed from the PostgreSQL store at ${this.conn.target.where} while it was being pruned; nothing was removed`, "run one prune at a time, then run guard store prune again", [], "io");
        const consumed = consumptionOf.get(id);
        yield { request: this.requestFrom(id, body), approvals: approvalsOf.get(id) ?? [], consumption: consumed === undefined ? null : this.consumptionFrom(id, consumed) };
      }
    }
  }

  /**
   * A prune's second read of the log: the events up to `planned.lastSeq` again, a page at a time by seq
   * (as the first read), the first `k` bodies to `put`. They must be the ones the plan read: the log is
   * append-only and only guard_prune removes events (and guard_prune checks again, at its commit, the
   * archived count and last hash), so fewer means another prune committed in between (74, run it again),
   * and other bodies a change nobody may make (65). Either way nothing was removed.
   */
  private async rereadAudit(planned: { sha256: string; events: number; lastSeq: string }, k: number, put: (line: string) => void): Promise<void> {
    const digest = createHash("sha256");
    let n = 0;
    for await (const rows of this.auditPages("seq <= $3::bigint", [planned.lastSeq])) {
      for (const row of rows) {
        const body = row[2];
        if (n < k) put(body);
        digest.update(body).update("\n");
        n++;
      }
    }
    const where = this.conn.target.where;
    if (n !== planned.events) {
      throw new GuardError(ExitCode.IO, `the audit log of the PostgreSQL store at ${where} lost events while it was being pruned (another guard store prune?); ${PRUNE_AGAIN}`, "run one prune at a time (a daily cron job, say)", [], "io");
    }
    if (digest.digest("hex") !== planned.sha256) {
      throw integrityError(
        `the audit log of the PostgreSQL store at ${where} changed while it was being pruned: its events up to ${planned.lastSeq} are not what an earlier read of them found; nothing was removed`,
        "someone with write access to the database changed it; run `guard audit verify` and investigate before trusting this store",
      );
    }
  }

  private rowDisagrees(seqText: string): GuardError {
    return corrupt(this.conn.target, `audit event ${seqText}`, "its row and its record disagree on seq or hash");
  }

  /**
   * `guard store prune` (migrations 4 and 7): the log and the records are read and planned here, the
   * archive written locally (a database keeps no files: --archive-dir is required), then guard_prune()
   * removes exactly what was archived and appends the checkpoint, in one transaction, or refuses and
   * removes nothing. Runs go on meanwhile: guard_prune holds the append lock only for the checkpoint at
   * its end, and refuses (74, run the prune again) when an event appended after the plan names a request
   * it retires, or when another prune is under way. Only a role the owner granted EXECUTE on guard_prune
   * may prune (checked before anything is written).
   */
  async prune(opts: PruneOptions): Promise<PruneOutcome> {
    this.assertOpen("pruning");
    if (opts.archiveDir === null) {
      throw usageError("a PostgreSQL store keeps no files: pass --archive-dir DIR for the archive", "e.g. guard store prune --older-than 90d --archive-dir /srv/guard-archive");
    }
    if (!opts.dryRun) {
      const r = await this.query<{ ok: boolean }>("checking the prune privilege", `SELECT has_function_privilege(current_user, '${PRUNE_FUNCTION}', 'EXECUTE') AS ok`);
      if (r.rows[0]?.ok !== true) {
        throw new GuardError(
          ExitCode.IO,
          `this role may not prune the PostgreSQL store at ${this.conn.target.where} (no EXECUTE on guard_prune)`,
          "pruning removes history: run it as the maintenance role the owner granted EXECUTE on guard_prune (docs/postgres.md, retention)",
          [],
          "io",
        );
      }
    }
    // Every event is checked and fed to the planner (PruneScan: each request's first and last event); no
    // body is kept. The archive is made from the log read again (rereadAudit), up to the last event before
    // the first one at or after the cutoff: the plan's time rule never retires one past it. This read
    // takes the SHA-256 of those bodies, for the second to be checked against.
    const scan = new PruneScan(opts.cutoffMs);
    const before = { digest: createHash("sha256"), events: 0, lastSeq: "0" };
    for await (const rows of this.auditPages()) {
      for (const [seqText, hash, body] of rows) {
        const e = this.auditEventFrom(seqText, hash, body);
        if (canonicalJson(e) !== body) throw corrupt(this.conn.target, `audit event ${seqText}`, "its text is not canonical; run guard audit verify");
        scan.push(e.seq, Date.parse(e.time), typeof e.data.requestId === "string" ? e.data.requestId : null);
        if (scan.stopped) continue;
        before.digest.update(body).update("\n");
        before.events++;
        before.lastSeq = seqText;
      }
    }
    const planned = { sha256: before.digest.digest("hex"), events: before.events, lastSeq: before.lastSeq };
    const { preparePrune, requestFacts, writeArchive } = await import("./archive.js");
    const facts = await requestFacts(this.recordBatches(false), null);
    const prepared = await preparePrune({
      description: this.description,
      opts,
      archiveDir: opts.archiveDir,
      scan,
      events: (k, put) => this.rereadAudit(planned, k, put),
      requests: facts,
      records: (ids) => this.retiredRecords(ids),
      leftovers: 0,
    });
    const { outcome } = prepared;
    if (opts.dryRun || prepared.bytes === null || outcome.archive === null || outcome.through === null) return outcome;
    outcome.archive.path = await writeArchive(opts.archiveDir, outcome.archive.name, prepared.bytes, 0o600);
    const data = prepared.checkpoint!;
    const through = outcome.through;
    let r: QueryResult<{ seq_text: string; prev: string; time: string; hash: string; body: string }>;
    // On a connection of its own, with the prune's statement timeout; the connection is closed after, so
    // that the setting never reaches another query through the pool.
    let client: PoolClient | undefined;
    try {
      client = await retryWhileBusy(this.conn.target, () => this.conn.pool.connect());
      const c = client;
      await c.query(`SET statement_timeout = ${PRUNE_STATEMENT_TIMEOUT_MS}`);
      r = await retryWhileBusy(this.conn.target, () =>
        c.query<{ seq_text: string; prev: string; time: string; hash: string; body: string }>(
          `SELECT out_seq::text AS seq_text, out_prev AS prev, out_time AS time, out_hash AS hash, out_body AS body
             FROM guard_prune($1::timestamptz, $2::bigint, $3, $4::text[], $5::bigint, $6::bigint, $7::bigint, $8, $9)`,
          [outcome.cutoff, through.seq, through.hash, outcome.retired, outcome.events, outcome.approvals, outcome.consumptions, canonicalJson(opts.actor), canonicalJson(data)],
        ),
      );
    } catch (err) {
      throw pruneRefusal(this.conn.target, err) ?? storeError(this.conn.target, err, "pruning (nothing was removed)");
    } finally {
      client?.release(true);
    }
    const row = r.rows[0];
    const seq = Number(row?.seq_text);
    const event = row && Number.isSafeInteger(seq) && seq > 1 ? chainEvent({ seq: seq - 1, hash: row.prev }, { type: "store.pruned", actor: opts.actor, data }, row.time) : null;
    if (!row || !event || event.hash !== row.hash || canonicalJson(event) !== row.body) {
      throw integrityError(
        `the PostgreSQL store at ${this.conn.target.where} stored the prune checkpoint differently from how guard computes it`,
        "the functions guard_prune or guard_append_audit were changed; run `guard audit verify` and have the owner compare them with migrations 2 and 7",
      );
    }
    outcome.checkpoint = { seq: event.seq, hash: event.hash };
    return outcome;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listener.close();
    await this.conn.pool.end().catch(() => undefined);
  }
}

/**
 * The condition (on top of `seq > $1 … LIMIT $2`) that readAuditFiltered reads the log with, and its
 * values ($3, $4): by request, else by time, else by type, each through its index of migration 4 and
 * with the rows whose indexed value is unknown (NULL). Null: no index helps (--actor alone).
 */
export function auditFilterQuery(filter: AuditFilter): { where: string; values: string[] } | null {
  if (filter.requestId !== undefined) {
    return { where: "(guard_audit_request(body) = $3 OR guard_audit_request(body) IS NULL)", values: [filter.requestId] };
  }
  // Canonical times are 4-digit years: outside them, no index bound (the whole log is read).
  if (filter.sinceMs !== undefined && filter.sinceMs >= 0 && filter.sinceMs < 253402300800000) {
    // Floor: a bound at or before the exact one takes a superset.
    return { where: `(guard_audit_time(body) COLLATE "C" >= $3 OR guard_audit_time(body) IS NULL)`, values: [new Date(Math.floor(filter.sinceMs)).toISOString()] };
  }
  if (filter.type !== undefined && filter.type.prefix.length > 0) {
    const p = filter.type.prefix;
    if (!filter.type.family) return { where: `(guard_audit_type(body) COLLATE "C" = $3 OR guard_audit_type(body) IS NULL)`, values: [p] };
    // Every text that starts with the prefix sorts in [prefix, prefix with its last character + 1), in C.
    const next = p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
    return { where: `((guard_audit_type(body) COLLATE "C" >= $3 AND guard_audit_type(body) COLLATE "C" < $4) OR guard_audit_type(body) IS NULL)`, values: [p, next] };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Waiting for approvals: LISTEN/NOTIFY with a poll as the fallback
// ---------------------------------------------------------------------------------------------

/**
 * One dedicated LISTEN connection per store, opened on the first wait. A wait ends on a notification
 * for its request, on its own deadline (capped at pollMs: the fallback poll, which also covers a change
 * that lands while LISTEN is being set up), on abort, or when the listening connection is lost, since
 * notifications may then have been missed and the caller must re-read. A lost connection is replaced on
 * the next wait; an unreachable server leaves the waits to their poll timers, while the caller's
 * re-reads report the outage (74).
 */
interface WatchEntry {
  /** A notification arrived that no wait has ended on yet. */
  pending: boolean;
  /** Ends the wait in progress, if any. */
  wake: (() => void) | null;
}

function notice(entry: WatchEntry): void {
  entry.pending = true;
  entry.wake?.();
}

class ChangeListener {
  private client: Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly watches = new Map<string, Set<WatchEntry>>();
  private closed = false;

  constructor(
    private readonly newClient: () => Client,
    private readonly pollMs: number,
  ) {}

  /**
   * A watch that never loses a wake-up: LISTEN is in place before this resolves (so before the
   * caller's read), and a notification that arrives while nobody waits is kept for the next wait.
   */
  async watch(requestId: string): Promise<RequestWatch> {
    const entry: WatchEntry = { pending: false, wake: null };
    const set = this.watches.get(requestId) ?? new Set<WatchEntry>();
    this.watches.set(requestId, set);
    set.add(entry);
    await this.listen();
    const close = (): void => {
      set.delete(entry);
      if (set.size === 0 && this.watches.get(requestId) === set) this.watches.delete(requestId);
      entry.wake?.();
    };
    return {
      close,
      wait: (timeoutMs: number, signal?: AbortSignal): Promise<void> =>
        new Promise((resolve) => {
          if (entry.pending || this.closed || signal?.aborted || !(timeoutMs > 0) || !set.has(entry)) {
            entry.pending = false;
            resolve();
            return;
          }
          // Not connected (the server refused LISTEN): the caller re-reads every pollMs.
          if (!this.client) void this.listen();
          const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            entry.wake = null;
            entry.pending = false;
            resolve();
          };
          const timer = setTimeout(done, Math.min(timeoutMs, this.pollMs));
          signal?.addEventListener("abort", done, { once: true });
          entry.wake = done;
        }),
    };
  }

  wait(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || signal?.aborted || !(timeoutMs > 0)) {
        resolve();
        return;
      }
      const set = this.waiters.get(requestId) ?? new Set<() => void>();
      this.waiters.set(requestId, set);
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(requestId) === set) this.waiters.delete(requestId);
        resolve();
      };
      const timer = setTimeout(done, Math.min(timeoutMs, this.pollMs));
      signal?.addEventListener("abort", done, { once: true });
      set.add(done);
      void this.listen();
    });
  }

  private listen(): Promise<void> {
    if (this.closed || this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = this.newClient();
    client.on("error", () => this.drop(client));
    client.on("end", () => this.drop(client));
    client.on("notification", (msg) => {
      if (msg.channel === NOTIFY_CHANNEL && msg.payload) this.wake(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      await client.end().catch(() => undefined);
      return; // the waits fall back to their poll timers
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  private drop(client: Client): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    this.wakeAll();
  }

  private wake(requestId: string): void {
    for (const done of [...(this.waiters.get(requestId) ?? [])]) done();
    for (const entry of [...(this.watches.get(requestId) ?? [])]) notice(entry);
  }

  /** Notifications may have been missed (the connection dropped, the store closes): everyone re-reads. */
  private wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const done of [...set]) done();
    for (const set of [...this.watches.values()]) for (const entry of [...set]) notice(entry);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    await this.connecting;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => undefined);
  }
}
