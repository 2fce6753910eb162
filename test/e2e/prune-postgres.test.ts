/**
 * Issue 18 (retention) on PostgreSQL (a real server, its own database and roles): `guard store prune`
 * through guard_prune() (migration 4). Only the maintenance role the owner granted EXECUTE on it can
 * prune; an ordinary guard role can neither call it nor DELETE (not even with the trigger's setting
 * faked and a DELETE grant given by mistake), nor can the owner delete outside it. The pruned store
 * verifies, with the archive too, and a retired request put back is refused as expired.
 *
 * The history is ten days old: made with the built CLI on a file store under a clock moved back (as in
 * prune.test.ts), then loaded into the database by its owner, row for row (events keep their seq, time
 * and hash; records their signed bodies), since the database's own clock cannot be moved.
 *
 * With the built CLI: that history (its clock is a `-r` hook, a process's own), every prune held in its
 * delete phase (holdPrune: a real process waiting on the database while the test acts), and what runs
 * while one is held (the run that must not be blocked, the second prune that must be refused): two
 * guards at once. The rest runs in process (guardIn: the same command line without a Node start each):
 * the refused and the successful prunes, verify, the runs after a prune. The store URLs name host, port,
 * user and database, so the pg driver's reading of this process's PG* variables (none set) changes
 * nothing. After each test no connection of guard's is left to any of the test's databases (an in-process
 * call must close its pool as the ended process would).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { guard, makeWorld, requestIdIn, type World } from "./world.js";
import { pastClockHook } from "../helpers/past-clock.js";
import { ADMIN_URL, randomName, refused, sql, urlFor } from "../helpers/pg.js";
import { expectNoGuardConnections } from "../helpers/pg-connections.js";
import { guardIn } from "../helpers/in-process.js";
import { migratePostgres, PRUNE_STATEMENT_TIMEOUT_MS } from "../../src/adapters/store/postgres.js";
import { PRUNE_FUNCTION } from "../../src/adapters/store/postgres-schema.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import { requestBindingKey } from "../../src/core/request.js";
import { auditHash } from "../../src/core/audit.js";
import type { AuditEvent, SignedRequest } from "../../src/core/types.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";

const database = randomName("guard_prune");
const owner = randomName("guard_owner");
const group = randomName("guard_user");
const user = randomName("guard_alice");
const maint = randomName("guard_maint");
const ownerUrl = urlFor(database, owner);
const userUrl = urlFor(database, user);
const maintUrl = urlFor(database, maint);
/** Copies of the database as the history leaves it (CREATE DATABASE … TEMPLATE), one per test that prunes while others write. */
const copies = ["held", "named", "twice", "locked", "timeout", "lost", "altered"].map((what) => `${database}_${what}`);

describe("issue 18: guard store prune on PostgreSQL", () => {
  let w: World;
  let consumed: string;
  let denied: string;
  let recent: string;
  let archiveDir: string;
  const as = (url: string): Record<string, string> => ({ GUARD_STORE: url });

  beforeAll(async () => {
    for (const s of [
      `CREATE ROLE ${owner} LOGIN`,
      `CREATE ROLE ${group} NOLOGIN`,
      `CREATE ROLE ${user} LOGIN IN ROLE ${group}`,
      `CREATE ROLE ${maint} LOGIN IN ROLE ${group}`,
      `CREATE DATABASE ${database} OWNER ${owner}`,
      `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
      `GRANT CONNECT ON DATABASE ${database} TO ${owner}, ${group}`,
    ])
      await sql(ADMIN_URL, s);
    await migratePostgres(ownerUrl);
    await sql(
      ownerUrl,
      `REVOKE ALL ON SCHEMA public FROM PUBLIC;
       GRANT USAGE ON SCHEMA public TO ${group};
       GRANT SELECT ON guard_schema_version TO ${group};
       GRANT SELECT, INSERT ON guard_requests, guard_approvals, guard_consumptions TO ${group};
       GRANT SELECT ON guard_audit TO ${group};
       GRANT EXECUTE ON FUNCTION guard_append_audit(text, text, text) TO ${group};
       GRANT EXECUTE ON FUNCTION ${PRUNE_FUNCTION} TO ${maint};`,
    );

    // Ten days ago, on a file store.
    w = await makeWorld();
    archiveDir = join(w.dir, "archive");
    const hook = join(w.dir, "ten-days-ago.cjs");
    await writeFile(hook, pastClockHook(10));
    const old = ["-r", hook];
    // Ten days ago: the built CLI under the clock hook; now: in process.
    const request = async (ticket: string, node: string[], env: Record<string, string> = {}): Promise<string> => {
      const argv = ["run", "--confirm", "production", "--reason", ticket, "--", PURGE, `--ticket=${ticket}`];
      const r = node.length > 0 ? await guard(w, argv, { as: "alice", env: { ...PROD, ...env }, node }) : await guardIn(w, argv, { as: "alice", env: { ...PROD, ...env } });
      expect(r.code).toBe(75);
      return requestIdIn(r.stderr);
    };
    consumed = await request("consumed", old);
    expect((await guard(w, ["approve", consumed, "--yes"], { as: "bob", node: old })).code).toBe(0);
    expect((await guard(w, ["run", "--request", consumed, "--confirm", "production"], { as: "alice", env: PROD, node: old })).code).toBe(0);
    denied = await request("denied", old);
    expect((await guard(w, ["deny", denied, "--yes", "--reason", "no"], { as: "bob", node: old })).code).toBe(0);

    // Loaded into the database by its owner, row for row.
    const lines = (await readFile(join(w.store, "audit", "events.jsonl"), "utf8")).trimEnd().split("\n");
    for (const l of lines) {
      const e = JSON.parse(l) as { seq: number; hash: string; time: string };
      await sql(ownerUrl, "INSERT INTO guard_audit (seq, hash, body, time) VALUES ($1, $2, $3, $4)", [e.seq, e.hash, l, e.time]);
    }
    for (const f of await readdir(join(w.store, "requests"))) {
      const signed = JSON.parse(await readFile(join(w.store, "requests", f), "utf8")) as SignedRequest;
      await sql(ownerUrl, "INSERT INTO guard_requests (id, body, created_at, expires_at, binding_key) VALUES ($1, $2, $3, $4, $5)", [signed.request.id, canonicalJson(signed), signed.request.createdAt, signed.request.expiresAt, requestBindingKey(signed.request)]);
      const dir = join(w.store, "approvals", signed.request.id);
      for (const a of existsSync(dir) ? await readdir(dir) : []) {
        const body = canonicalJson(JSON.parse(await readFile(join(dir, a), "utf8")));
        await sql(ownerUrl, "INSERT INTO guard_approvals (request_id, digest, body) VALUES ($1, $2, $3)", [signed.request.id, sha256Hex(body), body]);
      }
    }
    const c = JSON.parse(await readFile(join(w.store, "consumed", `${consumed}.json`), "utf8")) as { consumedAt: string };
    await sql(ownerUrl, "INSERT INTO guard_consumptions (request_id, body, consumed_at) VALUES ($1, $2, $3)", [consumed, canonicalJson(c), c.consumedAt]);

    // Now, on the database: a recent request, approved.
    recent = await request("recent", [], as(userUrl));
    expect((await guardIn(w, ["approve", recent, "--yes"], { as: "bob", env: as(userUrl) })).code).toBe(0);
    const v = await guardIn(w, ["audit", "verify", "--json"], { env: as(userUrl) });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });
    for (const copy of copies) await sql(ADMIN_URL, `CREATE DATABASE ${copy} TEMPLATE ${database} OWNER ${owner}`);
  }, 180_000);

  afterEach(async () => {
    await expectNoGuardConnections(database, ...copies);
  });

  afterAll(async () => {
    await w?.cleanup();
    for (const d of [database, ...copies]) await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    for (const role of [maint, user, group, owner]) await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${role}`);
  });

  it("an ordinary guard role can neither DELETE nor call guard_prune; the CLI says who may (74), and nothing is written", async () => {
    await refused(userUrl, "DELETE FROM guard_audit WHERE seq = 1", "42501");
    await refused(userUrl, `SELECT * FROM guard_prune(now() - interval '30 days', 1, '${"0".repeat(64)}', '{}', 1, 0, 0, '{}', '{}')`, "42501");
    const r = await guardIn(w, ["store", "prune", "--older-than", "8d", "--archive-dir", archiveDir], { env: as(userUrl) });
    expect(r.code).toBe(74);
    expect(r.stderr).toContain("guard_prune");
    expect(existsSync(archiveDir)).toBe(false);
  });

  it("the trigger's setting cannot be faked: a role granted DELETE by mistake, with guard.pruning set, is still refused; so is the owner outside guard_prune", async () => {
    await sql(ownerUrl, `GRANT DELETE ON guard_audit TO ${group}`);
    try {
      const msg = await refused(userUrl, "BEGIN; SET LOCAL guard.pruning = 'on'; DELETE FROM guard_audit WHERE seq = 1; COMMIT", "42501");
      expect(msg).toContain("append-only");
    } finally {
      await sql(ownerUrl, `REVOKE DELETE ON guard_audit FROM ${group}`);
    }
    await refused(ownerUrl, "DELETE FROM guard_audit WHERE seq = 1", "42501");
    expect(await sql(ownerUrl, "SELECT count(*)::int AS n FROM guard_audit WHERE seq = 1")).toEqual([{ n: 1 }]);
  });

  it("guard_prune refuses bounds that are not what the log holds, and removes nothing", async () => {
    const [first] = await sql(ownerUrl, "SELECT hash FROM guard_audit WHERE seq = 1");
    const msg = await refused(maintUrl, `SELECT * FROM guard_prune(now() - interval '8 days', 1, '${String(first!.hash)}', '{}', 2, 0, 0, '{}', '{}')`, "22023");
    expect(msg).toContain("prune refused");
    await refused(maintUrl, `SELECT * FROM guard_prune(now() - interval '1 day', 1, '${String(first!.hash)}', '{}', 1, 0, 0, '{}', '{}')`, "22023");
    await refused(maintUrl, `SELECT * FROM guard_prune(now() - interval '8 days', 1, '${String(first!.hash)}', '{${recent}}', 1, 0, 0, '{}', '{}')`, "22023");
    expect(await sql(ownerUrl, "SELECT count(*)::int AS n FROM guard_audit WHERE seq = 1")).toEqual([{ n: 1 }]);
  });

  it("the maintenance role prunes; the rest verifies, and with the archive everything; a retired request put back is refused as expired", async () => {
    expect((await guardIn(w, ["store", "prune", "--older-than", "8d"], { env: as(maintUrl) })).code).toBe(64); // no --archive-dir
    const r = await guardIn(w, ["store", "prune", "--older-than", "8d", "--archive-dir", archiveDir, "--json"], { env: as(maintUrl) });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { retired: string[]; archive: { path: string }; checkpoint: { seq: number }; events: number };
    expect(out.retired).toEqual([consumed, denied].sort());
    expect(await sql(ownerUrl, "SELECT min(seq)::int AS first FROM guard_audit")).toEqual([{ first: out.events + 1 }]);
    expect(await sql(ownerUrl, "SELECT count(*)::int AS n FROM guard_requests")).toEqual([{ n: 1 }]);
    expect(await sql(ownerUrl, "SELECT count(*)::int AS n FROM guard_consumptions")).toEqual([{ n: 0 }]);

    const v = await guardIn(w, ["audit", "verify", "--json"], { env: as(userUrl) });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });
    expect(v.code).toBe(0);
    const va = await guardIn(w, ["audit", "verify", "--json", "--archive", out.archive.path], { env: as(userUrl) });
    expect(JSON.parse(va.stdout)).toMatchObject({ ok: true, problems: [] });

    // The consumed request put back by someone who can insert rows (its signed body, from the file store).
    const signed = JSON.parse(await readFile(join(w.store, "requests", `${consumed}.json`), "utf8")) as SignedRequest;
    await sql(userUrl, "INSERT INTO guard_requests (id, body, created_at, expires_at, binding_key) VALUES ($1, $2, $3, $4, $5)", [consumed, canonicalJson(signed), signed.request.createdAt, signed.request.expiresAt, requestBindingKey(signed.request)]);
    const again = await guardIn(w, ["run", "--request", consumed, "--confirm", "production"], { as: "alice", env: { ...PROD, ...as(userUrl) } });
    expect(again.code).toBe(75);
    expect(again.stdout).not.toContain("purged");
    const lv = await guardIn(w, ["audit", "verify", "--json"], { env: as(userUrl) });
    expect((JSON.parse(lv.stdout) as { leftovers: string[] }).leftovers.join("\n")).toContain(consumed);

    // The recent request still runs, once.
    const ok = await guardIn(w, ["run", "--request", recent, "--confirm", "production"], { as: "alice", env: { ...PROD, ...as(userUrl) } });
    expect(ok.code).toBe(0);
    const replay = await guardIn(w, ["run", "--request", recent, "--confirm", "production"], { as: "alice", env: { ...PROD, ...as(userUrl) } });
    expect(replay.code).not.toBe(0);
  });

  /**
   * A prune held in its delete phase, deterministically: the owner's session locks event 1 (FOR UPDATE),
   * so guard_prune's DELETE of the events waits for it (up to its lock_timeout, 10 s) until `release`.
   * `prune` is the CLI's result once released.
   */
  async function holdPrune(
    copy: string,
    args: string[],
    lock = "SELECT 1 FROM guard_audit WHERE seq = 1 FOR UPDATE",
  ): Promise<{ prune: ReturnType<typeof guard>; pid: number; blockerPid: number; blocker: pg.Client; release(): Promise<void> }> {
    const blocker = new pg.Client({ connectionString: urlFor(copy, owner) });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query(lock);
      const blockerPid = (await blocker.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const prune = guard(w, ["store", "prune", ...args], { env: as(urlFor(copy, maint)) });
      let pid: number | undefined;
      for (let i = 0; i < 600 && pid === undefined; i++) {
        const rows = await sql(ADMIN_URL, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%FROM guard_prune(%' AND $2 = ANY (pg_blocking_pids(pid))", [copy, blockerPid]);
        pid = rows[0]?.pid as number | undefined;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      if (pid === undefined) throw new Error(`guard_prune never waited for the blocker on ${copy}: ${JSON.stringify(await prune)}`);
      return {
        prune,
        pid,
        blockerPid,
        blocker,
        release: async () => {
          await blocker.query("COMMIT");
          await blocker.end();
        },
      };
    } catch (e) {
      await blocker.end();
      throw e;
    }
  }

  /** An audit append from another connection, as every run makes; fails instead of waiting past 5 s. */
  async function appendNow(copy: string, type: string, data: Record<string, unknown>): Promise<number> {
    const client = new pg.Client({ connectionString: urlFor(copy, user), statement_timeout: 5_000 });
    await client.connect();
    try {
      const r = await client.query<{ seq: number }>("SELECT out_seq::int AS seq FROM guard_append_audit($1, $2, $3)", [type, canonicalJson({ fingerprint: null, principal: null, user: "carol" }), canonicalJson(data)]);
      return r.rows[0]!.seq;
    } finally {
      await client.end();
    }
  }

  it("runs go on while guard_prune deletes (schema 7): an append and a guard run from other connections are not blocked; the checkpoint chains after them", async () => {
    const copy = copies[0]!;
    const held = await holdPrune(copy, ["--older-than", "8d", "--archive-dir", join(w.dir, "archive-held"), "--json"]);
    let appended: number;
    try {
      appended = await appendNow(copy, "test.during-prune", { requestId: null });
      // A whole run (two appends) while the prune is still held in its DELETE.
      const run = await guard(w, ["run", "--", "true"], { as: "alice", env: as(urlFor(copy, user)) });
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      // …and the prune is still in its DELETE, waiting only for the blocker.
      expect(await sql(ADMIN_URL, "SELECT pg_blocking_pids(pid) AS blockers, wait_event_type, query LIKE '%FROM guard_prune(%' AS pruning FROM pg_stat_activity WHERE pid = $1", [held.pid])).toEqual([{ blockers: [held.blockerPid], wait_event_type: "Lock", pruning: true }]);
    } finally {
      await held.release();
    }
    const r = await held.prune;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { retired: string[]; checkpoint: { seq: number } };
    expect(out.retired).toEqual([consumed, denied].sort());
    expect(out.checkpoint.seq).toBe(appended + 3); // after the append and the run's two events
    const v = await guardIn(w, ["audit", "verify", "--json"], { env: as(urlFor(copy, user)) });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });
  });

  it("an event naming a retired request appended after the plan: the prune retires nothing (74, run it again); the next prune keeps that request", async () => {
    const copy = copies[1]!;
    const before = await sql(urlFor(copy, owner), "SELECT (SELECT count(*)::int FROM guard_audit) AS events, (SELECT count(*)::int FROM guard_requests) AS requests, (SELECT count(*)::int FROM guard_approvals) AS approvals, (SELECT count(*)::int FROM guard_consumptions) AS consumptions");
    const held = await holdPrune(copy, ["--older-than", "8d", "--archive-dir", join(w.dir, "archive-named")]);
    let seq: number;
    try {
      seq = await appendNow(copy, "test.names-request", { requestId: denied });
    } finally {
      await held.release();
    }
    const r = await held.prune;
    expect(r.code).toBe(74);
    expect(r.stderr).toContain(`request ${denied}, which this prune retires, was named by a new audit event (test.names-request, seq ${seq})`);
    expect(r.stderr).toContain("nothing was removed; run guard store prune again");
    expect(await sql(urlFor(copy, owner), "SELECT (SELECT count(*)::int FROM guard_audit) AS events, (SELECT count(*)::int FROM guard_requests) AS requests, (SELECT count(*)::int FROM guard_approvals) AS approvals, (SELECT count(*)::int FROM guard_consumptions) AS consumptions")).toEqual([{ ...before[0], events: (before[0]!.events as number) + 1 }]);

    const again = await guardIn(w, ["store", "prune", "--older-than", "8d", "--archive-dir", join(w.dir, "archive-named-2"), "--json"], { env: as(urlFor(copy, maint)) });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { retired: string[] }).retired).toEqual([consumed]);
    const v = await guardIn(w, ["audit", "verify", "--json"], { env: as(urlFor(copy, user)) });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });
  });

  /**
   * The store's own prune, in process (as the command calls it once the store verified), with `act` done
   * between its two reads of the log: after the plan's read, as the requests are listed, and before the
   * archive is made from the log read again.
   */
  async function pruneBetween(copy: string, act: () => Promise<void>): Promise<{ out: unknown; err: { exitCode: number; message: string } | null }> {
    const { openPostgresStore } = await import("../../src/adapters/store/postgres.js");
    const s = await openPostgresStore(urlFor(copy, maint));
    const own = s as unknown as { recordBatches: (...a: unknown[]) => AsyncIterable<unknown> };
    const read = own.recordBatches.bind(s);
    own.recordBatches = async function* (...a: unknown[]) {
      await act();
      yield* read(...a);
    };
    try {
      const out = await s.prune!({ cutoffMs: Date.now() - 8 * 86_400_000, olderThan: "8d", actor: { principal: null, fingerprint: null, user: "test" }, archiveDir: join(w.dir, `archive-${copy}`), dryRun: false });
      return { out, err: null };
    } catch (e) {
      return { out: null, err: e as { exitCode: number; message: string } };
    } finally {
      await s.close();
    }
  }
  const counts = (copy: string): Promise<Record<string, unknown>[]> =>
    sql(urlFor(copy, owner), "SELECT (SELECT count(*)::int FROM guard_audit) AS events, (SELECT min(seq)::int FROM guard_audit) AS first, (SELECT count(*)::int FROM guard_requests) AS requests, (SELECT count(*)::int FROM guard_approvals) AS approvals, (SELECT count(*)::int FROM guard_consumptions) AS consumptions");

  it("another prune committed between the plan's read of the log and the archive's: the second read finds events gone, refused (74, run it again), no archive written, nothing more removed", async () => {
    const copy = copies[5]!;
    let between: Record<string, unknown>[] = [];
    const { out, err } = await pruneBetween(copy, async () => {
      const other = await guardIn(w, ["store", "prune", "--older-than", "8d", "--archive-dir", join(w.dir, "archive-lost-other"), "--json"], { env: as(urlFor(copy, maint)) });
      expect(other.code, other.stderr).toBe(0);
      between = await counts(copy);
    });
    expect(out).toBeNull();
    expect(err?.exitCode).toBe(74);
    expect(err?.message).toMatch(/^the audit log of the PostgreSQL store at .* lost events while it was being pruned \(another guard store prune\?\); nothing was removed; run guard store prune again$/);
    expect(existsSync(join(w.dir, `archive-${copy}`))).toBe(false);
    expect(await counts(copy)).toEqual(between);
    const v = await guardIn(w, ["audit", "verify", "--json"], { env: as(urlFor(copy, user)) });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });
  });

  it("an event's body changed between the plan's read and the archive's (by a superuser, past the triggers): refused (65), no archive written, nothing removed", async () => {
    const copy = copies[6]!;
    const before = await counts(copy);
    const { out, err } = await pruneBetween(copy, async () => {
      // Another text for a retired event, with the hash that text has (the table's check holds each row to its own hash).
      const [row] = await sql(urlFor(copy), "SELECT seq::int AS seq, body FROM guard_audit WHERE body LIKE '%--ticket=consumed%' ORDER BY seq LIMIT 1");
      const e = JSON.parse(String(row!.body).replace("--ticket=consumed", "--ticket=c0nsumed")) as AuditEvent;
      e.hash = auditHash(e);
      const admin = new pg.Client({ connectionString: urlFor(copy) });
      await admin.connect();
      try {
        await admin.query("BEGIN");
        await admin.query("SET LOCAL session_replication_role = replica");
        await admin.query("UPDATE guard_audit SET body = $1, hash = $2 WHERE seq = $3", [canonicalJson(e), e.hash, row!.seq]);
        await admin.query("COMMIT");
      } finally {
        await admin.end();
      }
    });
    expect(out).toBeNull();
    expect(err?.exitCode).toBe(65);
    expect(err?.message).toMatch(/^the audit log of the PostgreSQL store at .* changed while it was being pruned: its events up to \d+ are not what an earlier read of them found; nothing was removed$/);
    expect(existsSync(join(w.dir, `archive-${copy}`))).toBe(false);
    expect(await counts(copy)).toEqual(before);
  });

  it("guard_prune's statement has its own timeout (30 min; every other statement keeps 30 s): a prune of millions of events is not cut off", async () => {
    const copy = copies[4]!;
    // What the deleting statement ran with, as the database saw it: recorded by a trigger of the test's own.
    await sql(
      urlFor(copy, owner),
      `CREATE TABLE prune_seen (setting text NOT NULL);
       CREATE FUNCTION prune_seen() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO prune_seen VALUES (current_setting('statement_timeout')); RETURN NULL; END $$;
       CREATE TRIGGER prune_seen AFTER DELETE ON guard_requests FOR EACH STATEMENT EXECUTE FUNCTION prune_seen();`,
    );
    const r = await guardIn(w, ["store", "prune", "--older-than", "8d", "--archive-dir", join(w.dir, "archive-timeout"), "--json"], { env: as(urlFor(copy, maint)) });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { retired: string[] }).retired).toEqual([consumed, denied].sort());
    expect(PRUNE_STATEMENT_TIMEOUT_MS).toBe(30 * 60_000);
    expect(await sql(urlFor(copy, owner), "SELECT setting FROM prune_seen")).toEqual([{ setting: "30min" }]);
  });

  it("two prunes at once: the second is refused at once (74, another prune is under way) and removes nothing; the first completes; the store verifies", async () => {
    const copy = copies[2]!;
    const held = await holdPrune(copy, ["--older-than", "8d", "--archive-dir", join(w.dir, "archive-first"), "--json"]);
    let second: Awaited<ReturnType<typeof guard>>;
    try {
      second = await guard(w, ["store", "prune", "--older-than", "8d", "--archive-dir", join(w.dir, "archive-second")], { env: as(urlFor(copy, maint)) });
    } finally {
      await held.release();
    }
    expect(second.code).toBe(74);
    expect(second.stderr).toContain("another guard store prune is under way");
    expect(second.stderr).toContain("nothing was removed; run guard store prune again");
    const first = await held.prune;
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as { retired: string[] }).retired).toEqual([consumed, denied].sort());
    expect(await sql(urlFor(copy, owner), "SELECT count(*)::int AS n FROM guard_audit WHERE body LIKE '%\"type\":\"store.pruned\"}'")).toEqual([{ n: 1 }]);
    const v = await guardIn(w, ["audit", "verify", "--json"], { env: as(urlFor(copy, user)) });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });
    // Once the first is done, a prune finds nothing more to retire.
    const after = await guardIn(w, ["store", "prune", "--older-than", "8d", "--archive-dir", join(w.dir, "archive-third"), "--json"], { env: as(urlFor(copy, maint)) });
    expect(after.code).toBe(0);
    expect((JSON.parse(after.stdout) as { retired: string[] }).retired).toEqual([]);
  });

  it("an event naming a retired request appended while the prune waits for the append lock (the check under the lock), in a body the database cannot decode: refused too (74)", async () => {
    const copy = copies[3]!;
    // The owner holds the append lock: the prune has deleted and waits for it at its last step.
    const held = await holdPrune(copy, ["--older-than", "8d", "--archive-dir", join(w.dir, "archive-locked")], "SELECT 1 FROM guard_audit_lock FOR UPDATE");
    let seq: number;
    try {
      // \u0000: jsonb refuses the body, so guard_audit_request() has no value; the id it spells counts.
      const data = canonicalJson({ note: "\u0000", requestId: consumed });
      const r = await held.blocker.query<{ seq: number }>("SELECT out_seq::int AS seq FROM guard_append_audit('test.names-request', $1, $2)", [canonicalJson({ fingerprint: null, principal: null, user: "carol" }), data]);
      seq = r.rows[0]!.seq;
      expect(await sql(urlFor(copy, owner), "SELECT count(*)::int AS n FROM guard_audit WHERE seq = $1", [seq])).toEqual([{ n: 0 }]); // not committed yet
    } finally {
      await held.release();
    }
    expect(await sql(urlFor(copy, owner), "SELECT guard_audit_request(body) IS NULL AS undecodable FROM guard_audit WHERE seq = $1", [seq])).toEqual([{ undecodable: true }]);
    const r = await held.prune;
    expect(r.code).toBe(74);
    expect(r.stderr).toContain(`request ${consumed}, which this prune retires, was named by a new audit event (test.names-request, seq ${seq})`);
    expect(await sql(urlFor(copy, owner), "SELECT (SELECT count(*)::int FROM guard_requests) AS requests, (SELECT min(seq)::int FROM guard_audit) AS first")).toEqual([{ requests: 3, first: 1 }]);
  });
});
