import { randomBytes } from "node:crypto";
import pg from "pg";

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
