/**
 * A server that turns connections away for want of room (SQLSTATE 53300: too many connections, for the
 * server or, here, a role's CONNECTION LIMIT) is waited for a moment, not an instant 74: fifty guards
 * started at once (the bench's approval race, a CI fan-out) met "sorry, too many clients already" on a
 * server of 100 connections. Nothing ran on a connection that was turned away, so trying again is safe.
 * A server that stays full is still a refusal (74) that says why.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore } from "../../src/adapters/store/postgres.js";
import { ADMIN_URL, createTestDatabase, randomName, sql, urlFor } from "../helpers/pg.js";
import { expectGuardError } from "./contract.js";

describe("PostgreSQL store: a server that is full for a moment", () => {
  const role = randomName("busy");
  let db: { url: string; name: string; drop(): Promise<void> };
  let url: string;

  beforeAll(async () => {
    // A role that may hold one connection at a time (limits do not bind superusers), owning its database.
    await sql(ADMIN_URL, `CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`);
    db = await createTestDatabase({ owner: role });
    url = urlFor(db.name, role);
  });

  afterAll(async () => {
    await db?.drop();
    await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${role}`);
  });

  async function holdTheOnlyConnection(): Promise<pg.Client> {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    return holder;
  }

  it("a connection turned away (53300) is tried again until there is room", async () => {
    const holder = await holdTheOnlyConnection();
    const started = Date.now();
    const release = new Promise<void>((resolve) => setTimeout(() => void holder.end().then(resolve), 400));
    const store = await openPostgresStore(url, { busyRetryMs: 5_000 });
    try {
      await release;
      expect(Date.now() - started).toBeGreaterThanOrEqual(350); // it did wait for the holder
      expect(await store.now()).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it("a server that stays full is a refusal (74) that says so, after the retry window", async () => {
    const holder = await holdTheOnlyConnection();
    try {
      const started = Date.now();
      const e = await expectGuardError(openPostgresStore(url, { busyRetryMs: 300 }), 74);
      expect(e.message).toMatch(/too many connections/);
      // It tried again (a single refusal takes a few ms) and gave up within its window (300 ms: it never
      // starts a pause that would end after it).
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(50);
      expect(took).toBeLessThan(2_000);
    } finally {
      await holder.end();
    }
  });

  it("other errors are not retried: a role that may not log in is refused at once", async () => {
    const nologin = randomName("nologin");
    await sql(ADMIN_URL, `CREATE ROLE ${nologin} NOLOGIN`);
    try {
      const started = Date.now();
      await expectGuardError(openPostgresStore(urlFor(db.name, nologin), { busyRetryMs: 5_000 }), 74);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${nologin}`);
    }
  });
});
