import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migratePostgres, openPostgresStore } from "../../src/adapters/store/postgres.js";
import { MAX_AUDIT_EVENT_BYTES, MIGRATIONS, PRUNE_FUNCTION, SCHEMA_VERSION, VERSION_TABLE_SQL } from "../../src/adapters/store/postgres-schema.js";
import { chainEvent } from "../../src/core/audit.js";
import { canonicalJson } from "../../src/core/canonical.js";
import type { AuditEvent } from "../../src/core/types.js";
import { guard, makeWorld, requestIdIn, type World } from "../e2e/world.js";
import { ADMIN_URL, randomName, refused, sql, urlFor } from "../helpers/pg.js";
import { collect, expectGuardError, verifyBothWays } from "./contract.js";
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
const legacy = randomName("guard_test_legacy");
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
  await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${legacy} WITH (FORCE)`);
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
      // A break-glass request: the partial index's function (schema version 6) runs as the inserting user.
      const glass = makeRequest();
      glass.request.breakGlass = true;
      await store.putRequest(glass);
      expect((await store.listBreakGlassRequests()).requests.map((x) => x.request.id)).toEqual([glass.request.id]);
      await store.putApproval(id, makeApproval(id)); // identity column: no sequence grant needed
      expect(await store.listApprovals(id)).toHaveLength(1);
      await store.waitForChange(id, 200); // LISTEN needs no grant
      // Watch first, then store: waitForChange alone may start listening only after a change made at
      // once by another connection (its contract: changes after the call), which under load is a race.
      const watch = await store.watchRequest(id);
      try {
        await ownerStore.putApproval(id, makeApproval(id, "carol"));
        const waiting = watch.wait(20_000).then(() => "woken");
        expect(await Promise.race([waiting, new Promise((res) => setTimeout(() => res("still waiting"), 15_000))])).toBe("woken");
      } finally {
        watch.close();
      }
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

  it("SW7: a guard user cannot INSERT audit rows, nor take the append lock; it appends only through guard_append_audit", async () => {
    const forged = chainEvent(null, makeDraft(1), new Date().toISOString());
    await refused(aliceUrl, `INSERT INTO guard_audit (seq, hash, body, time) VALUES (1000000, '${forged.hash}', '${canonicalJson(forged)}', now())`, "42501");
    await refused(aliceUrl, "INSERT INTO guard_audit (seq, hash, body, time) VALUES (9223372036854775807, 'junk', 'junk', now())", "42501");
    await refused(aliceUrl, "SELECT one FROM guard_audit_lock FOR UPDATE", "42501");
    await refused(aliceUrl, "SELECT one FROM guard_audit_lock", "42501");
    await refused(aliceUrl, "BEGIN; LOCK TABLE guard_audit IN SHARE ROW EXCLUSIVE MODE; COMMIT", "42501");
    await refused(aliceUrl, "BEGIN; LOCK TABLE guard_audit_lock IN ACCESS SHARE MODE; COMMIT", "42501");
    await refused(aliceUrl, "ALTER FUNCTION guard_append_audit(text, text, text) RESET search_path", "42501");
    await refused(
      aliceUrl,
      "CREATE OR REPLACE FUNCTION guard_append_audit(event_type text, actor text, data text) RETURNS TABLE (out_seq bigint, out_prev text, out_time text, out_hash text, out_body text) LANGUAGE sql AS $$SELECT 1::bigint, 'a', 'b', 'c', 'd'$$",
      "42501",
    );
    // The routines that run with the owner's rights, with their search_path pinned: the append, executable by
    // guard_user only, and the prune (migration 4), executable by nobody until the owner grants it.
    const definers = await sql(ownerUrl, "SELECT proname, proconfig FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosecdef ORDER BY proname");
    expect(definers).toEqual([
      { proname: "guard_append_audit", proconfig: ["lock_timeout=10s", "search_path=public, pg_temp"] },
      { proname: "guard_prune", proconfig: ["lock_timeout=10s", "search_path=public, pg_temp"] },
    ]);
    const prune = await sql(ownerUrl, `SELECT has_function_privilege($1, '${PRUNE_FUNCTION}', 'EXECUTE') AS member, has_function_privilege('public', '${PRUNE_FUNCTION}', 'EXECUTE') AS anyone`, [alice]);
    expect(prune).toEqual([{ member: false, anyone: false }]);
    const may = await sql(
      ownerUrl,
      "SELECT has_function_privilege($1, 'guard_append_audit(text, text, text)', 'EXECUTE') AS member, has_function_privilege('public', 'guard_append_audit(text, text, text)', 'EXECUTE') AS anyone",
      [alice],
    );
    expect(may).toEqual([{ member: true, anyone: false }]);
    // guard's own appends, as alice: through the function, checked against guard's computation.
    const store = await openPostgresStore(aliceUrl);
    try {
      const e = await store.appendAudit(makeDraft(7));
      const [row] = await sql(ownerUrl, "SELECT body FROM guard_audit WHERE seq = $1", [e.seq]);
      expect(row?.body).toBe(canonicalJson(e));
      expect((await verifyBothWays(store)).ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("SW7: guard_append_audit decides seq, prev, time and hash itself, and refuses what is not an event", async () => {
    const before = await sql(ownerUrl, "SELECT seq::int AS seq, hash FROM guard_audit ORDER BY seq DESC LIMIT 1");
    // Called directly, by hand: the caller names only the type, actor and data.
    const [made] = await sql(aliceUrl, `SELECT out_seq::int AS seq, out_prev AS prev FROM guard_append_audit('policy.error', '{"principal":"alice"}', '{"message":"by hand"}')`);
    expect(made).toEqual({ seq: (before[0]!.seq as number) + 1, prev: before[0]!.hash });
    const [typed] = await sql(aliceUrl, `SELECT out_body AS body FROM guard_append_audit('request.self-approval_2', '{}', '{}')`);
    expect(JSON.parse(typed!.body as string)).toMatchObject({ type: "request.self-approval_2", actor: {}, data: {} });
    for (const args of [
      `'Not A Type', '{}', '{}'`,
      `'run.started","x', '{}', '{}'`,
      `'policy.error', 'not json', '{}'`,
      `'policy.error', '{}', '[1]'`,
      `'policy.error', '{}', '{"a":1}, "b": {'`,
      `NULL, '{}', '{}'`,
    ]) {
      await refused(aliceUrl, `SELECT * FROM guard_append_audit(${args})`, "22023");
    }
    // Bounded, since the row is checked under the append lock.
    await expect(sql(aliceUrl, "SELECT * FROM guard_append_audit('policy.error', '{}', $1)", [`{"a":"${"x".repeat(MAX_AUDIT_EVENT_BYTES)}"}`])).rejects.toMatchObject({ code: "54000" });
    const store = await openPostgresStore(aliceUrl);
    try {
      expect((await verifyBothWays(store)).ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("SW7: a user who keeps an append's transaction open holds up appends (74 after 10 s, with a hint); the documented query names the session, and ending it frees them", async () => {
    const holder = new pg.Client({ connectionString: aliceUrl });
    holder.on("error", () => undefined); // it is terminated below
    await holder.connect();
    const store = await openPostgresStore(aliceUrl);
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT * FROM guard_append_audit('policy.error', '{}', '{}')");
      const [{ pid }] = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows as [{ pid: number }];
      const t0 = Date.now();
      const stalled = expectGuardError(store.appendAudit(makeDraft(1)), 74);
      let blockers: Record<string, unknown>[] = [];
      for (let i = 0; i < 50 && blockers.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        blockers = await sql(urlFor(database), await docBlock("blockers"));
      }
      expect(blockers).toEqual([expect.objectContaining({ pid, usename: alice, state: "idle in transaction" })]);
      // The waiting append gives up after the function's lock_timeout, saying what to look for.
      const err = await stalled;
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(err.message).toContain("SQLSTATE 55P03");
      expect(err.hint).toContain("open transaction");
      const waiting = store.appendAudit(makeDraft(1));
      await new Promise((r) => setTimeout(r, 300));
      await sql(ADMIN_URL, "SELECT pg_terminate_backend($1)", [pid]);
      const e = await waiting;
      expect((await verifyBothWays(store)).head).toEqual({ seq: e.seq, hash: e.hash });
    } finally {
      await holder.end().catch(() => undefined);
      await store.close();
    }
  });

  it("SW7: the issue's row (a huge seq, a junk hash) is refused by the CHECK constraint, for the owner and a superuser too", async () => {
    for (const url of [ownerUrl, urlFor(database)]) {
      await refused(url, "INSERT INTO guard_audit (seq, hash, body, time) VALUES (9223372036854775807, 'junk', 'junk', now())", "23514");
      await refused(url, "INSERT INTO guard_audit (seq, hash, body, time) VALUES (1000000, repeat('a', 64), '{}', now())", "23514");
    }
  });

  /** A row only the owner can write: well-formed, self-consistent, at seq 1,000,000, linked to nothing. */
  async function ownerForges(): Promise<AuditEvent> {
    const forged = chainEvent({ seq: 999_999, hash: "ab".repeat(32) }, makeDraft(666, "request.consumed"), new Date().toISOString());
    await sql(ownerUrl, "INSERT INTO guard_audit (seq, hash, body, time) VALUES ($1, $2, $3, $4)", [forged.seq, forged.hash, canonicalJson(forged), forged.time]);
    return forged;
  }

  it("SW7: the owner's recovery (docs/postgres.md) removes a damaged last row, and the log verifies again", async () => {
    await ownerForges();
    const store = await openPostgresStore(aliceUrl);
    try {
      const bad = await verifyBothWays(store);
      expect(bad.ok).toBe(false);
      expect(bad.problems.join("\n")).toContain("event 1000000");
      await sql(ownerUrl, await docBlock("remove-row"));
      expect((await verifyBothWays(store)).ok).toBe(true);
    } finally {
      await store.close();
    }
    // The trigger is back.
    expect(await refused(ownerUrl, "DELETE FROM guard_audit", "42501")).toContain("append-only");
  });

  it("SW7: a row the owner forged blocks no user: guard request, approve and run as members of guard_user still work; `audit verify` reports it (65, its seq)", async () => {
    const forged = await ownerForges();
    let w: World | undefined;
    try {
      w = await makeWorld();
      w.env.GUARD_STORE = aliceUrl;
      for (const who of ["alice", "bob"]) await mkdir(join(w.dir, `home-${who}`), { recursive: true });
      const world = w;
      const as = (who: string): Record<string, string> => ({ HOME: join(world.dir, `home-${who}`), XDG_STATE_HOME: join(world.dir, `home-${who}`, "state"), GUARD_KEY: world.people[who]!.key });
      const prod = { DATABASE_URL: "postgres://app@prod-db.internal/elb", ...as("alice") };
      const plain = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh", "--plain"], { env: as("alice") });
      expect(plain.code, plain.stderr).toBe(0);
      const args = ["./maintenance/purge-lb-state.sh", "--ticket=roles-1"];
      const r = await guard(w, ["run", "--confirm", "production", "--reason", "roles-1", "--", ...args], { env: prod });
      expect(r.code, r.stderr).toBe(75);
      const id = requestIdIn(r.stderr);
      const approve = await guard(w, ["approve", id, "--yes"], { env: as("bob") });
      expect(approve.code, approve.stderr).toBe(0);
      const run = await guard(w, ["run", "--request", id, "--confirm", "production"], { env: prod });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe("purged --ticket=roles-1\n");
      // Appended after the forged row, chained to it.
      const after = await sql(ownerUrl, "SELECT seq::int AS seq, body FROM guard_audit WHERE seq > $1 ORDER BY seq", [forged.seq]);
      expect(after.length).toBeGreaterThanOrEqual(4);
      expect(after[0]!.seq).toBe(forged.seq + 1);
      expect((JSON.parse(after[0]!.body as string) as AuditEvent).prev).toBe(forged.hash);
      const verify = await guard(w, ["audit", "verify", "--json"], { env: as("bob") });
      expect(verify.code, verify.stderr).toBe(65);
      const report = JSON.parse(verify.stdout) as { ok: boolean; problems: string[] };
      expect(report.ok).toBe(false);
      expect(report.problems.join("\n")).toContain("event 1000000");
      // No longer the last row: the documented removal refuses and changes nothing.
      await expect(sql(ownerUrl, await docBlock("remove-row"))).rejects.toThrow("event 1000000 is not the last row");
      expect(await sql(ownerUrl, "SELECT seq::int AS seq FROM guard_audit WHERE seq = 1000000")).toEqual([{ seq: 1000000 }]);
    } finally {
      await w?.cleanup();
    }
  }, 60_000);

  it("SW7: a store set up with schema version 1 and its grants migrates: users lose INSERT on the audit log, gain the function, and the log keeps verifying", async () => {
    await sql(ADMIN_URL, `CREATE DATABASE ${legacy} OWNER ${owner}`);
    await sql(ADMIN_URL, `GRANT CONNECT ON DATABASE ${legacy} TO ${group}`);
    const legacyOwner = urlFor(legacy, owner);
    const legacyAlice = urlFor(legacy, alice);
    // Version 1 as migrate() applied it, and the grants the documentation gave then.
    await sql(legacyOwner, `${VERSION_TABLE_SQL}; ${MIGRATIONS[0]!.sql}; INSERT INTO guard_schema_version (version, description) VALUES (1, '${MIGRATIONS[0]!.description}')`);
    await sql(legacyOwner, `GRANT USAGE ON SCHEMA public TO ${group}; GRANT SELECT ON guard_schema_version TO ${group}; GRANT SELECT, INSERT ON guard_requests, guard_approvals, guard_consumptions, guard_audit TO ${group}`);
    // Widened by mistake: a grant option, passed on by a member.
    await sql(legacyOwner, `GRANT INSERT ON guard_audit TO ${group} WITH GRANT OPTION`);
    await sql(legacyAlice, "GRANT INSERT ON guard_audit TO PUBLIC");
    // Events as version 1's appendAudit wrote them: by the client, as raw rows.
    let prev: AuditEvent | null = null;
    for (let i = 0; i < 3; i++) {
      prev = chainEvent(prev, makeDraft(i), new Date().toISOString());
      await sql(legacyAlice, "INSERT INTO guard_audit (seq, hash, body, time) VALUES ($1, $2, $3, $4)", [prev.seq, prev.hash, canonicalJson(prev), prev.time]);
    }
    expect(await migratePostgres(legacyOwner)).toEqual({ from: 1, to: SCHEMA_VERSION });
    const inserters = await sql(legacyOwner, "SELECT acl.grantee::regrole::text AS who FROM pg_class c, aclexplode(c.relacl) acl WHERE c.oid = 'guard_audit'::regclass AND acl.privilege_type = 'INSERT' AND acl.grantee <> c.relowner");
    expect(inserters).toEqual([]);
    await refused(legacyAlice, "INSERT INTO guard_audit (seq, hash, body, time) VALUES (9223372036854775807, 'junk', 'junk', now())", "42501");
    const store = await openPostgresStore(legacyAlice, { migrate: false });
    try {
      const e = await store.appendAudit(makeDraft(3));
      expect(e.seq).toBe(4);
      expect(e.prev).toBe(prev!.hash);
      expect(await verifyBothWays(store)).toMatchObject({ ok: true, events: 4 });
    } finally {
      await store.close();
    }
  });
});
