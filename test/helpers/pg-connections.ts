/**
 * What a guard run in process (test/helpers/in-process.ts) must leave behind on PostgreSQL: nothing. The
 * built CLI ends its process, which closes every socket; in process, a store pool, a LISTEN client or a
 * credentials client not ended would stay connected (the store's pool keeps an idle connection for 10 s).
 * guard names its connections "access-guard…" (application_name), so they can be told from the test's own.
 */
import { expect } from "vitest";
import { ADMIN_URL, sql } from "./pg.js";

/** guard's connections to `database` (all databases without one), as the server lists them. */
async function guardConnections(database?: string): Promise<Array<Record<string, unknown>>> {
  return sql(
    ADMIN_URL,
    "SELECT pid, datname, usename, application_name, state FROM pg_stat_activity WHERE application_name LIKE 'access-guard%' AND ($1::text IS NULL OR datname = $1) ORDER BY pid",
    [database ?? null],
  );
}

/**
 * No connection of guard's is left to these databases once no guard is running. A connection ended a
 * moment ago may still be listed while its server process exits: waits up to 2 s for the list to empty.
 */
export async function expectNoGuardConnections(...databases: string[]): Promise<void> {
  const left = async (): Promise<Array<Record<string, unknown>>> => (await Promise.all(databases.map((d) => guardConnections(d)))).flat();
  let rows = await left();
  for (let i = 0; i < 40 && rows.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    rows = await left();
  }
  expect(rows.map((r) => JSON.stringify(r)), "guard's connections left open after its calls").toEqual([]);
}
