import { afterAll, beforeAll } from "vitest";
import { openPostgresStore } from "../../src/adapters/store/postgres.js";
import { createTestDatabase, randomName, sql } from "../helpers/pg.js";
import { describeStoreContract } from "./contract.js";

/**
 * The shared Store contract on PostgreSQL. One fresh database for this file; every test gets its own
 * schema (guard's `schema=` URL parameter), so each starts empty with the audit sequence at 1.
 */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describeStoreContract("postgres", async () => {
  const schema = randomName("contract");
  const url = `${db.url}?schema=${schema}`;
  // Small pages, so that readRecords is seen to page (its default is 2,000 requests).
  const store = await openPostgresStore(url, { recordPageSize: 64 });
  return {
    store,
    reopen: () => openPostgresStore(url, { recordPageSize: 64 }),
    plantRequest: async (id, body) => {
      await sql(db.url, `INSERT INTO ${schema}.guard_requests (id, body, created_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 hour')`, [id, body]);
    },
    plantConsumption: async (requestId, body) => {
      await sql(db.url, `INSERT INTO ${schema}.guard_consumptions (request_id, body) VALUES ($1, $2)`, [requestId, body]);
    },
    plantApproval: async (requestId, body) => {
      await sql(db.url, `INSERT INTO ${schema}.guard_approvals (request_id, digest, body) VALUES ($1, $2, $3)`, [requestId, "ab".repeat(32), body]);
    },
    cleanup: async () => {
      await store.close();
      await sql(db.url, `DROP SCHEMA ${schema} CASCADE`);
    },
  };
}, { breakGlassEntries: false });
