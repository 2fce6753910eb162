import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migratePostgres, openPostgresStore } from "../../src/adapters/store/postgres.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/adapters/store/postgres-schema.js";
import { ADMIN_URL, randomName, sql, urlFor } from "../helpers/pg.js";
import { collect, expectGuardError } from "./contract.js";
import { makeApproval, makeConsumption, makeDraft, makeRequest } from "./fixtures.js";

/**
 * The least-privilege setup of docs/postgres.md, run exactly as documented (the SQL blocks are read
 * from the document, with role and database names made unique): guard's users can append and read,
 * never change or remove, and the trigger holds even for roles that somehow have the grant.
 */

const owner = randomName("guard_owner");
const group = randomName("guard_user");
const alice = randomName("guard_alice");
const database = randomName("guard_test_roles");
const unmigrated = randomName("guard_test_unmigrated");
const ownerUrl = urlFor(database, owner);
const aliceUrl = urlFor(database, alice);
const TABLES = ["guard_requests", "guard_approvals", "guard_consumptions", "guard_audit"];

async function docBlock(name: string): Promise<string> {
  const md = await readFile(new URL("../../docs/postgres.md", import.meta.url), "utf8");
  const at = md.indexOf(`<!-- postgres-roles:${name}`);
  expect(at, `docs/postgres.md has no block ${name}`).toBeGreaterThanOrEqual(0);
  const start = md.indexOf("```sql\n", at) + "```sql\n".length;
  return md.slice(start, md.indexOf("```", start));
}

/** The documented SQL with this test's names. */
const personalise = (text: string): string =>
  text
    .replace(/\bguard_owner\b/g, owner)
    .replace(/\bguard_user\b/g, group)
    .replace(/\balice\b/g, alice)
    .replace(/\baccess_guard\b/g, database);

const statements = (text: string): string[] =>
  text
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);

/** Run SQL that must fail with this SQLSTATE; returns the server's message. */
async function refused(url: string, text: string, sqlstate: string): Promise<string> {
  try {
    await sql(url, text);
  } catch (e) {
    expect((e as { code?: string }).code, `${text}: ${(e as Error).message}`).toBe(sqlstate);
    return (e as Error).message;
  }
  throw new Error(`expected "${text}" to fail with SQLSTATE ${sqlstate}, but it succeeded`);
}

beforeAll(async () => {
  // Step 1 of the document, as a superuser; one statement at a time (CREATE DATABASE cannot run in a transaction).
  for (const s of statements(personalise(await docBlock("setup")))) await sql(ADMIN_URL, s);
  // Step 2: the owner migrates.
  expect(await migratePostgres(ownerUrl)).toEqual({ from: 0, to: SCHEMA_VERSION });
  // Step 3: the owner grants.
  await sql(ownerUrl, personalise(await docBlock("grants")));
});

afterAll(async () => {
  await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${unmigrated} WITH (FORCE)`);
  for (const role of [alice, group, owner]) await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${role}`);
});

describe("least-privilege roles (docs/postgres.md)", () => {
  it("a member of guard_user can do everything guard does: read, append, consume, wait", async () => {
    const store = await openPostgresStore(aliceUrl, { pollMs: 60_000 });
    const ownerStore = await openPostgresStore(ownerUrl);
    try {
      const r = makeRequest();
      const id = r.request.id;
      await store.putRequest(r);
      expect(await store.getRequest(id)).toEqual(r);
      expect((await store.listRequests()).requests.map((x) => x.request.id)).toContain(id);
      await store.putApproval(id, makeApproval(id)); // identity column: no sequence grant needed
      expect(await store.listApprovals(id)).toHaveLength(1);
      await store.waitForChange(id, 200); // LISTEN needs no grant
      const waiting = store.waitForChange(id, 20_000).then(() => "woken");
      await ownerStore.putApproval(id, makeApproval(id, "carol"));
      expect(await Promise.race([waiting, new Promise((res) => setTimeout(() => res("still waiting"), 15_000))])).toBe("woken");
      expect(await store.consume(makeConsumption(id))).toBe(true);
      expect(await store.consume(makeConsumption(id))).toBe(false);
      expect(await store.getConsumption(id)).not.toBeNull();
      for (let i = 0; i < 3; i++) await store.appendAudit(makeDraft(i)); // advisory lock needs no grant
      expect((await collect(store.readAudit())).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(Number.isFinite(await store.now())).toBe(true);
    } finally {
      await store.close();
      await ownerStore.close();
    }
  });

  for (const table of TABLES) {
    it(`S3, S6: a guard user cannot UPDATE, DELETE or TRUNCATE ${table}, nor disable its triggers or drop it (42501)`, async () => {
      await refused(aliceUrl, `UPDATE ${table} SET body = body`, "42501");
      await refused(aliceUrl, `DELETE FROM ${table}`, "42501");
      await refused(aliceUrl, `TRUNCATE ${table}`, "42501");
      await refused(aliceUrl, `ALTER TABLE ${table} DISABLE TRIGGER USER`, "42501");
      await refused(aliceUrl, `DROP TABLE ${table}`, "42501");
    });
  }

  it("a guard user cannot create tables or change the schema version", async () => {
    await refused(aliceUrl, "CREATE TABLE guard_evil (x int)", "42501");
    await refused(aliceUrl, "INSERT INTO guard_schema_version (version, description) VALUES (999, 'x')", "42501");
  });

  it("S3, S6: the trigger refuses UPDATE, DELETE and TRUNCATE even for roles that hold the grant, the owner and a superuser", async () => {
    const store = await openPostgresStore(ownerUrl);
    try {
      await store.appendAudit(makeDraft(42));
    } finally {
      await store.close();
    }
    await sql(ownerUrl, `GRANT UPDATE, DELETE, TRUNCATE ON ${TABLES.join(", ")} TO ${group}`);
    try {
      for (const url of [aliceUrl, ownerUrl, urlFor(database)]) {
        for (const table of TABLES) {
          expect(await refused(url, `UPDATE ${table} SET body = body`, "42501")).toContain("append-only");
          expect(await refused(url, `DELETE FROM ${table}`, "42501")).toContain("append-only");
          expect(await refused(url, `TRUNCATE ${table}`, "42501")).toContain("append-only");
        }
      }
      const rows = await sql(ownerUrl, "SELECT count(*)::int AS n FROM guard_audit");
      expect(rows[0]?.n).toBeGreaterThan(0);
    } finally {
      await sql(ownerUrl, `REVOKE UPDATE, DELETE, TRUNCATE ON ${TABLES.join(", ")} FROM ${group}`);
    }
  });

  it("the trigger SQL shown in the document is migration 1's, verbatim", async () => {
    const shown = await docBlock("trigger");
    const parts = shown.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
    expect(parts.length).toBeGreaterThanOrEqual(2);
    for (const part of parts) expect(MIGRATIONS[0]!.sql).toContain(part);
  });

  it("a guard user meeting an unmigrated database gets 74 and is told to migrate as the owner", async () => {
    await sql(ADMIN_URL, `CREATE DATABASE ${unmigrated} OWNER ${owner}`);
    const e = await expectGuardError(openPostgresStore(urlFor(unmigrated, alice)), 74);
    expect(e.message).toContain(`/${unmigrated}`);
    expect(e.hint).toContain("guard store migrate");
  });
});
