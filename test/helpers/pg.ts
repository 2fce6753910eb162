import { randomBytes } from "node:crypto";
import pg from "pg";
import { expect } from "vitest";

/**
 * Fresh PostgreSQL databases for tests. The server is required, never optional: if it is not reachable
 * the tests fail (CI guarantees it is up). GUARD_TEST_PG_URL points at a maintenance database with a
 * role that may create databases and roles.
 */
export const ADMIN_URL = process.env.GUARD_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A random lowercase suffix for database, schema and role names. */
export const randomName = (prefix: string): string => `${prefix}_${randomBytes(6).toString("hex")}`;

/** The admin URL pointed at another database, optionally as another user. */
export function urlFor(database: string, user?: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${database}`;
  if (user !== undefined) {
    u.username = user;
    u.password = "";
  }
  return u.toString();
}

/** Run statements on one short-lived connection; returns the last result's rows. */
export async function sql(url: string, text: string, values?: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const r = await client.query(text, values);
    const last = Array.isArray(r) ? r[r.length - 1] : r;
    return (last?.rows ?? []) as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(opts: { owner?: string } = {}): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = randomName("guard_test");
  await sql(ADMIN_URL, `CREATE DATABASE ${name}${opts.owner ? ` OWNER ${opts.owner}` : ""}`);
  return {
    url: urlFor(name),
    name,
    // FORCE: a test that failed half-way may still hold connections.
    drop: async () => {
      await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** The advisory lock withManyConnections holds (any fixed number; only these tests take it). */
const MANY_CONNECTIONS_LOCK = 7_391_022;

/**
 * Run `fn` while no other test holds this lock, in this run or another one on the same server. For a test
 * that opens dozens of connections at once (50 racing stores or processes): test files run in parallel
 * (vitest.config.ts), and two such tests together would pass PostgreSQL's max_connections (100).
 * The lock is a session-level advisory lock on one admin connection; ending that session releases it,
 * also when `fn` throws.
 */
export async function withManyConnections<T>(fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MANY_CONNECTIONS_LOCK]);
    return await fn();
  } finally {
    await client.end();
  }
}

/** Run SQL that must fail with this SQLSTATE; returns the server's message. */
export async function refused(url: string, text: string, sqlstate: string): Promise<string> {
  try {
    await sql(url, text);
  } catch (e) {
    expect((e as { code?: string }).code, `${text}: ${(e as Error).message}`).toBe(sqlstate);
    return (e as Error).message;
  }
  throw new Error(`expected "${text}" to fail with SQLSTATE ${sqlstate}, but it succeeded`);
}
