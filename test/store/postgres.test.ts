import { readFile } from "node:fs/promises";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MIGRATION_STATEMENT_TIMEOUT_MS, migratePostgres, openPostgresStore } from "../../src/adapters/store/postgres.js";
import { BREAK_GLASS_PREDICATE, CONSUMED_PREDICATE, CONSUMED_REQUEST_ID, LOCK_CLASS, LOCK_MIGRATE, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE_SQL } from "../../src/adapters/store/postgres-schema.js";
import type { Store } from "../../src/adapters/store/types.js";
import { AuditVerifier, chainEvent } from "../../src/core/audit.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import type { AuditActor, AuditEvent, Consumption, SignedRequest } from "../../src/core/types.js";
import { ADMIN_URL, createTestDatabase, randomName, sql, urlFor, withManyConnections } from "../helpers/pg.js";
import { collect, expectGuardError, verifyBothWays } from "./contract.js";
import { makeApproval, makeConsumption, makeDraft, makeRequest, newId } from "./fixtures.js";

/** PostgreSQL-specific behaviour; the shared contract runs in postgres.contract.test.ts. */

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const open: Store[] = [];

/** A store in its own fresh schema of this file's database (closed after the file). */
async function fresh(opts: Parameters<typeof openPostgresStore>[1] = {}): Promise<{ store: Store; url: string; schema: string }> {
  const schema = randomName("s");
  const url = `${db.url}?schema=${schema}`;
  const store = await openPostgresStore(url, opts);
  open.push(store);
  return { store, url, schema };
}

async function reopen(url: string, opts: Parameters<typeof openPostgresStore>[1] = {}): Promise<Store> {
  const store = await openPostgresStore(url, opts);
  open.push(store);
  return store;
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const s of open.splice(0)) await s.close();
  await db?.drop();
});

describe("migrations", () => {
  // First in the file: the database is still empty, so ten processes really race to create the schema.
  it("10 concurrent openPostgresStore on a fresh database all succeed and migrate exactly once", async () => {
    const stores = await Promise.all(Array.from({ length: 10 }, () => openPostgresStore(db.url)));
    try {
      const rows = await sql(db.url, "SELECT version FROM guard_schema_version ORDER BY version");
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const id = newId();
      await stores[3]!.putRequest(makeRequest(id));
      expect(await stores[7]!.getRequest(id)).not.toBeNull();
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("migratePostgres: 0 → latest on a fresh schema, then nothing to do", async () => {
    const url = `${db.url}?schema=${randomName("m")}`;
    expect(await migratePostgres(url)).toEqual({ from: 0, to: SCHEMA_VERSION });
    expect(await migratePostgres(url)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
  });

  it("versions are 1..n without gaps", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it("migrate: false refuses an unmigrated schema (74) and points at `guard store migrate`", async () => {
    const e = await expectGuardError(openPostgresStore(`${db.url}?schema=${randomName("u")}`, { migrate: false }), 74);
    expect(e.hint).toContain("guard store migrate");
  });

  it("a schema newer than this guard is refused (74)", async () => {
    const { url, schema } = await fresh();
    await sql(db.url, `INSERT INTO ${schema}.guard_schema_version (version, description) VALUES (999, 'from the future')`);
    const e = await expectGuardError(openPostgresStore(url), 74);
    expect(e.message).toContain("999");
    await expectGuardError(migratePostgres(url), 74);
  });

  it("the schema parameter keeps installations apart and is not passed to pg", async () => {
    const a = await fresh();
    const b = await fresh();
    const r = makeRequest();
    await a.store.putRequest(r);
    expect(await b.store.getRequest(r.request.id)).toBeNull();
    const tables = await sql(db.url, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'guard_requests' AND table_schema = ANY($1)", [[a.schema, b.schema]]);
    expect(tables.map((t) => t.table_schema).sort()).toEqual([a.schema, b.schema].sort());
    expect(a.store.description).toContain(`schema=${a.schema}`);
  });

  for (const bad of ["Bad", "a-b", "x;drop", "1abc", ""]) {
    it(`a schema parameter ${JSON.stringify(bad)} is a usage error (64)`, async () => {
      await expectGuardError(openPostgresStore(`${db.url}?schema=${encodeURIComponent(bad)}`), 64);
    });
  }

  it("a URL whose TLS files are missing is a usage error (64)", async () => {
    const e = await expectGuardError(openPostgresStore(`${urlFor("postgres")}?sslmode=verify-full&sslrootcert=/nonexistent/guard-ca.pem`), 64);
    expect(e.message).toContain("/nonexistent/guard-ca.pem");
  });

  it("a URL that is not postgres:// is a usage error (64) that does not echo it", async () => {
    await expectGuardError(openPostgresStore("mysql://u:hunter2@h/db"), 64);
    const e = await expectGuardError(openPostgresStore("postgres://u:hunter2@[bad"), 64);
    expect(e.message).not.toContain("hunter2");
  });
});

describe("single use and the database's clock", () => {
  it("A12: 50 concurrent consume() from 50 store instances (separate connections): exactly one wins", async () => {
    const { store, url } = await fresh();
    const r = makeRequest();
    await store.putRequest(r);
    const id = r.request.id;
    await withManyConnections(async () => {
      const stores = await Promise.all(Array.from({ length: 50 }, () => openPostgresStore(url, { maxConnections: 1 })));
      try {
        const records = stores.map((_, i) => makeConsumption(id, 5000 + i));
        const results = await Promise.all(stores.map((s, i) => s.consume(records[i]!)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.getConsumption(id)).toEqual(records[results.indexOf(true)]);
        const again = await Promise.all(stores.slice(0, 5).map((s) => s.consume(makeConsumption(id, 1))));
        expect(again).toEqual([false, false, false, false, false]);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  });

  it("now() is the server's clock_timestamp()", async () => {
    const { store } = await fresh();
    const [before] = await sql(db.url, "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms");
    const t = await store.now();
    const [after] = await sql(db.url, "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms");
    expect(t).toBeGreaterThanOrEqual(before!.ms as number);
    expect(t).toBeLessThanOrEqual(after!.ms as number);
  });

  it("A11: with the local clock set back a day, now(), audit times and expiry follow the server", async () => {
    const { store } = await fresh();
    const real = Date.now();
    // Valid for an hour by a clock that is a day behind; expired an hour ago by the real one.
    const r = makeRequest(newId(), new Date(real - 2 * 3_600_000));
    r.request.expiresAt = new Date(real - 3_600_000).toISOString();
    await store.putRequest(r);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(real - 86_400_000);
      expect(Date.now()).toBeLessThan(real - 86_000_000);
      expect(Math.abs((await store.now()) - real)).toBeLessThan(60_000);
      const e = await store.appendAudit(makeDraft(1));
      expect(Math.abs(Date.parse(e.time) - real)).toBeLessThan(60_000);
      const err = await expectGuardError(store.consume(makeConsumption(r.request.id)), 77);
      expect(err.message).toContain("expired");
    } finally {
      vi.useRealTimers();
    }
    expect(await store.getConsumption(r.request.id)).toBeNull();
  });

  it("A10: a request that is still valid by the server's clock is consumed", async () => {
    const { store } = await fresh();
    const r = makeRequest();
    await store.putRequest(r);
    expect(await store.consume(makeConsumption(r.request.id))).toBe(true);
  });
});

describe("audit", () => {
  it("readAudit pages through a log (1,234 events, pages of 100) in order, and appends continue its chain", async () => {
    const { store, schema } = await fresh({ auditPageSize: 100 });
    const events: AuditEvent[] = [];
    let prev: AuditEvent | null = null;
    for (let i = 0; i < 1_234; i++) {
      prev = chainEvent(prev, makeDraft(i), new Date(1_700_000_000_000 + i).toISOString());
      events.push(prev);
    }
    await sql(
      db.url,
      `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])`,
      [events.map((e) => e.seq), events.map((e) => e.hash), events.map((e) => canonicalJson(e)), events.map((e) => e.time)],
    );
    const v = new AuditVerifier();
    let n = 0;
    for await (const e of store.readAudit()) {
      expect(e.seq).toBe(++n);
      v.push(e);
    }
    const report = v.finish();
    expect(report.ok).toBe(true);
    expect(report.events).toBe(1_234);
    const next = await store.appendAudit(makeDraft(99_999));
    expect(next.seq).toBe(1_235);
    expect(next.prev).toBe(events[events.length - 1]!.hash);
  });

  it("appends from 5 instances, 20 each, interleaved: one contiguous valid chain", async () => {
    const { url } = await fresh();
    const stores = await Promise.all(Array.from({ length: 5 }, () => reopen(url)));
    await Promise.all(stores.map((s, k) => Promise.all(Array.from({ length: 20 }, (_, i) => s.appendAudit(makeDraft(k * 100 + i))))));
    const read = await collect(stores[0]!.readAudit());
    expect(read.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const v = new AuditVerifier();
    for (const e of read) v.push(e);
    expect(v.finish().ok).toBe(true);
  });
});

describe("SW7: audit appends through guard_append_audit (schema version 2)", () => {
  /** A schema as version 1 of guard created it (exactly what migrate() ran), for upgrade tests. */
  async function freshV1(): Promise<{ url: string; schema: string }> {
    const schema = randomName("v1");
    const v1 = MIGRATIONS[0]!;
    await sql(db.url, `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${VERSION_TABLE_SQL}; ${v1.sql}; INSERT INTO guard_schema_version (version, description) VALUES (1, '${v1.description}')`);
    return { url: `${db.url}?schema=${schema}`, schema };
  }

  /** An append as version 1's appendAudit made it: computed by the client, inserted as a raw row. */
  async function appendV1(schema: string, prev: AuditEvent | null, n: number): Promise<AuditEvent> {
    const e = chainEvent(prev, makeDraft(n), new Date().toISOString());
    await sql(db.url, `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) VALUES ($1, $2, $3, $4)`, [e.seq, e.hash, canonicalJson(e), e.time]);
    return e;
  }

  it("a store created by schema version 1 migrates, keeps verifying, and appends continue its chain", async () => {
    const { url, schema } = await freshV1();
    let prev: AuditEvent | null = null;
    for (let i = 0; i < 5; i++) prev = await appendV1(schema, prev, i);
    const store = await reopen(url);
    expect(await sql(db.url, `SELECT max(version)::int AS v FROM ${schema}.guard_schema_version`)).toEqual([{ v: SCHEMA_VERSION }]);
    expect(await verifyBothWays(store)).toMatchObject({ ok: true, events: 5, head: { seq: 5, hash: prev!.hash } });
    const next = await store.appendAudit(makeDraft(5));
    expect(next).toMatchObject({ seq: 6, prev: prev!.hash });
    expect(await verifyBothWays(store)).toMatchObject({ ok: true, events: 6, head: { seq: 6, hash: next.hash } });
    // Every row, the old ones included, passes the new constraint.
    await sql(db.url, `ALTER TABLE ${schema}.guard_audit VALIDATE CONSTRAINT guard_audit_row_is_an_event`);
  });

  it("the issue's rows left by version 1 (a huge seq, a junk hash) stop no append; verify names the first (65), and the owner's query lists them", async () => {
    const { url, schema } = await freshV1();
    let prev: AuditEvent | null = null;
    for (let i = 0; i < 3; i++) prev = await appendV1(schema, prev, i);
    const insert = `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) VALUES ($1, 'junk', 'junk', now())`;
    await sql(db.url, insert, ["50"]);
    await sql(db.url, insert, ["4611686018427387904"]); // 2^62: beyond any seq guard can read
    const store = await reopen(url);
    const a = await store.appendAudit(makeDraft(3));
    const b = await store.appendAudit(makeDraft(4));
    // After the last row guard can chain to, linked by the digest of its text (its hash is not one).
    expect(a).toMatchObject({ seq: 51, prev: sha256Hex("junk") });
    expect(b).toMatchObject({ seq: 52, prev: a.hash });
    const e = await expectGuardError(collect(store.readAudit()), 65);
    expect(e.message).toContain("audit event 50 ");
    await expect(verifyBothWays(store)).rejects.toThrow(/^65 .*audit event 50 /);
    const listed = await sql(db.url, `SELECT seq::text AS seq_text FROM ${schema}.guard_audit WHERE NOT ${schema}.guard_audit_row_ok(seq, hash, body) ORDER BY seq`);
    expect(listed.map((r) => r.seq_text)).toEqual(["50", "4611686018427387904"]);
    // Since version 2 nobody, the superuser included, stores such a row without dropping the constraint.
    await expect(sql(db.url, insert, ["53"])).rejects.toMatchObject({ code: "23514" });
  });

  it("a run's S3 check reads only its request's request.consumed events, through an index, skipping rows that cannot be read", async () => {
    const { url, schema } = await freshV1();
    const [x, y] = [newId(), newId()];
    const actor = { principal: "alice", fingerprint: null };
    let prev: AuditEvent | null = null;
    const events: AuditEvent[] = [];
    for (const draft of [
      { type: "run.intent", actor, data: { requestId: x, runId: "run-1", argv: [] } },
      { type: "request.consumed", actor, data: { requestId: x, runId: "run-1" } },
      { type: "request.consumed", actor, data: { requestId: y, runId: "run-2" } },
    ]) {
      prev = chainEvent(prev, draft, new Date().toISOString());
      events.push(prev);
      await sql(db.url, `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) VALUES ($1, $2, $3, $4)`, [prev.seq, prev.hash, canonicalJson(prev), prev.time]);
    }
    // Left by version 1: junk that looks like a consumption of x, and junk that is nothing.
    const junk = `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) VALUES ($1, 'junk', $2, now())`;
    await sql(db.url, junk, [10, `{"data":{"requestId":"${x}"} broken,"type":"request.consumed"}`]);
    await sql(db.url, junk, [11, "junk"]);
    const store = await reopen(url);
    expect(store.consumedEvents).toBeDefined();
    expect(await collect(store.consumedEvents!(x))).toEqual([events[1]]);
    expect(await collect(store.consumedEvents!(y))).toEqual([events[2]]);
    expect(await collect(store.consumedEvents!(newId()))).toEqual([]);
    const appended = await store.appendAudit({ type: "request.consumed", actor, data: { requestId: x, runId: "run-3" } });
    expect(await collect(store.consumedEvents!(x))).toEqual([events[1], appended]);
    const plan = await sql(db.url, `SET search_path = ${schema}; SET enable_seqscan = off; EXPLAIN SELECT seq FROM guard_audit WHERE ${CONSUMED_PREDICATE} AND ${CONSUMED_REQUEST_ID} = '${x}'`);
    expect(plan.map((r) => r["QUERY PLAN"]).join("\n")).toContain("guard_audit_consumed");
  });

  it("an append function changed by someone (here: it re-serialises actor) is caught by the client: 65, the event is not taken as guard's", async () => {
    const { store, schema } = await fresh();
    await store.appendAudit(makeDraft(1));
    const v2 = MIGRATIONS[1]!.sql;
    const start = v2.indexOf("CREATE FUNCTION guard_append_audit");
    const fn = v2.slice(start, v2.indexOf("$fn$;", start) + "$fn$;".length);
    const changed = fn
      .replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
      .replace("  IF current_setting('server_encoding')", "  actor := actor::jsonb::text;\n  IF current_setting('server_encoding')");
    expect(changed).not.toBe(fn);
    await sql(db.url, `SET search_path = ${schema}; ${changed}`);
    const e = await expectGuardError(store.appendAudit({ type: "policy.error", actor: { principal: "alice", fingerprint: null }, data: {} }), 65);
    expect(e.message).toContain("stored audit event 2 differently from how guard computes it");
    // The row it stored passes the constraint (it is valid JSON with a matching hash), and verify reports it.
    expect((await verifyBothWays(store)).firstBad).toEqual({ seq: 2, problem: "event 2 was altered: its hash does not match its content" });
  });

  it("a head row whose text is an event but does not verify is chained after, and verify reports it at its seq", async () => {
    const { store, schema } = await fresh();
    await store.appendAudit(makeDraft(1));
    // Valid JSON within the constraint, not canonical (so its hash is not the verifier's): written by hand.
    const [forged] = await sql(db.url, `SELECT out_seq::int AS seq FROM ${schema}.guard_append_audit('policy.error', '{ "principal": "mallory" }', '{}')`);
    expect(forged).toEqual({ seq: 2 });
    const next = await store.appendAudit(makeDraft(3));
    expect(next.seq).toBe(3);
    const report = await verifyBothWays(store);
    expect(report.ok).toBe(false);
    expect(report.firstBad).toEqual({ seq: 2, problem: "event 2 was altered: its hash does not match its content" });
    expect(report.events).toBe(3);
  });

  it("random Unicode actor and data (quotes, controls, lone surrogates, NUL, astral keys) appended through SQL hash exactly as the JavaScript verifier does", async () => {
    const { store } = await fresh();
    const odd = fc.constantFrom("\u0000", "\u001f", "\u007f", '"', "\\", "\u2028", "\ud800", "\udfff", "\ud83d\ude00", "\uffff", "\ufeff", "é", "/");
    const text = fc.oneof(fc.string({ unit: "binary", maxLength: 12 }), fc.string({ unit: odd, maxLength: 6 }));
    const value = fc.jsonValue({ maxDepth: 3 }).chain((v) => fc.oneof(fc.constant(v), text));
    const object = fc.dictionary(text, fc.oneof(value, text), { maxKeys: 6 });
    const appended: AuditEvent[] = [];
    await fc.assert(
      fc.asyncProperty(object, object, async (actor, data) => {
        // (actor is a claim like any other: the store takes any JSON object, and so must the function.)
        const e = await store.appendAudit({ type: "policy.error", actor: actor as unknown as AuditActor, data });
        expect(e.hash).toBe(sha256Hex(canonicalJson({ seq: e.seq, time: e.time, type: e.type, actor: e.actor, data: e.data, prev: e.prev })));
        appended.push(e);
      }),
      { numRuns: 150 },
    );
    expect(await collect(store.readAudit())).toEqual(appended);
    expect(await verifyBothWays(store)).toMatchObject({ ok: true, events: appended.length });
  }, 60_000);
});

describe("schema version 6: the break-glass index", () => {
  const glass = (createdAt = new Date()): SignedRequest => {
    const r = makeRequest(newId(), createdAt);
    r.request.breakGlass = true;
    r.request.requirements = [];
    return r;
  };
  /** A row as a store writer inserts it: any body text, under the id it names. */
  const plant = (schema: string, id: string, body: string): Promise<unknown> =>
    sql(db.url, `INSERT INTO ${schema}.guard_requests (id, body, created_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 hour')`, [id, body]);

  it("a store at schema version 5 migrates to 6, and the migration indexes the break-glass rows it already holds", async () => {
    const schema = randomName("v5");
    const upTo5 = MIGRATIONS.filter((m) => m.version <= 5);
    await sql(db.url, `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${VERSION_TABLE_SQL}; ${upTo5.map((m) => m.sql).join(";\n")}`);
    for (const m of upTo5) await sql(db.url, `INSERT INTO ${schema}.guard_schema_version (version, description) VALUES ($1, $2)`, [m.version, m.description]);
    const old = glass(new Date(Date.now() - 86_400_000));
    const normal = makeRequest();
    for (const r of [old, normal]) await plant(schema, r.request.id, canonicalJson(r)); // as version 5's putRequest stored them (binding key aside)
    const store = await reopen(`${db.url}?schema=${schema}`);
    expect(await sql(db.url, `SELECT max(version)::int AS v FROM ${schema}.guard_schema_version`)).toEqual([{ v: SCHEMA_VERSION }]);
    const recent = glass();
    await store.putRequest(recent);
    expect((await store.listBreakGlassRequests()).requests.map((r) => r.request.id).sort()).toEqual([old.request.id, recent.request.id].sort());
  });

  it("rows a store writer inserts are listed as guard reads them, however break-glass is spelled; a body the database cannot decode is listed too", async () => {
    const { store, schema } = await fresh();
    const listed: string[] = [];
    const spelled = async (r: SignedRequest, body: string, found: boolean): Promise<void> => {
      expect(Boolean((JSON.parse(body) as SignedRequest).request.breakGlass), body.slice(0, 80)).toBe(found); // what guard reads
      await plant(schema, r.request.id, body);
      if (found) listed.push(r.request.id);
    };
    const a = glass();
    await spelled(a, canonicalJson(a).replace('"breakGlass":true', '"break\\u0047lass":true'), true); // an escaped key
    const b = glass();
    await spelled(b, JSON.stringify(b, null, 2), true); // not canonical
    const c = makeRequest();
    await spelled(c, canonicalJson(c).replace('"breakGlass":false', '"breakGlass":false,"breakGlass":true'), true); // the last of repeated keys
    const d = glass();
    await spelled(d, canonicalJson(d).replace('"breakGlass":true', '"breakGlass":true,"breakGlass":false'), false);
    const e = glass();
    e.request.argv = ["./x.sh", "\u0000"]; // jsonb refuses \u0000: the row is read, and guard finds it break-glass
    await spelled(e, canonicalJson(e), true);
    const f = makeRequest();
    f.request.argv = ['"breakGlass":true', "{\"request\":{\"breakGlass\":true}}"]; // only text
    await spelled(f, canonicalJson(f), false);
    const g = makeRequest();
    (g as unknown as { extra: unknown }).extra = { breakGlass: true }; // elsewhere in the record
    await spelled(g, canonicalJson(g), false);
    const out = await store.listBreakGlassRequests();
    expect(out.damaged).toEqual([]);
    expect(out.requests.map((r) => r.request.id).sort()).toEqual(listed.sort());
  });

  it("the listing reads the partial index, not the table, however many other rows it holds", async () => {
    const { store, schema } = await fresh();
    await sql(
      db.url,
      `INSERT INTO ${schema}.guard_requests (id, body, created_at, expires_at)
       SELECT 'r-' || translate(substr(md5(i::text), 1, 20), '0189', 'wxyz'), '{"request":{"breakGlass":false}}', now(), now() FROM generate_series(1, 20000) AS i;
       ANALYZE ${schema}.guard_requests`,
    );
    const bg = glass();
    await store.putRequest(bg);
    expect((await store.listBreakGlassRequests()).requests).toEqual([bg]);
    const plan = await sql(db.url, `SET search_path = ${schema}; EXPLAIN SELECT id, body FROM guard_requests WHERE ${BREAK_GLASS_PREDICATE}`);
    expect(plan.map((r) => r["QUERY PLAN"]).join("\n")).toContain("guard_requests_break_glass");
  });
});

describe("migrating a store with a long history", () => {
  it("a migration's statements run with its own statement timeout (1 hour), so building indexes over millions of rows is not cut off; the store's own statements keep 30 s", async () => {
    // In a database of its own: an event trigger sees every DDL statement of its database.
    const own = await createTestDatabase();
    try {
      const upTo4 = MIGRATIONS.filter((m) => m.version <= 4);
      await sql(own.url, `${VERSION_TABLE_SQL}; ${upTo4.map((m) => m.sql).join(";\n")}`);
      for (const m of upTo4) await sql(own.url, "INSERT INTO guard_schema_version (version, description) VALUES ($1, $2)", [m.version, m.description]);
      // What each statement of the migration ran with, as the database saw it.
      await sql(
        own.url,
        `CREATE TABLE public.migration_seen (tag text NOT NULL, setting text NOT NULL);
         CREATE FUNCTION public.migration_seen() RETURNS event_trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.migration_seen VALUES (tg_tag, current_setting('statement_timeout')); END $$;
         CREATE EVENT TRIGGER migration_seen ON ddl_command_end EXECUTE FUNCTION public.migration_seen();`,
      );
      expect(await migratePostgres(own.url)).toEqual({ from: 4, to: SCHEMA_VERSION });
      const seen = await sql(own.url, "SELECT tag, setting FROM public.migration_seen");
      expect(seen.filter((r) => r.tag === "CREATE INDEX").length).toBeGreaterThanOrEqual(5); // version 5's indexes, version 6's
      expect(new Set(seen.map((r) => r.setting))).toEqual(new Set(["1h"]));
      expect(MIGRATION_STATEMENT_TIMEOUT_MS).toBe(60 * 60_000);
      // Outside a migration, the store's statements keep the 30 s bound: an append, as its INSERT saw it.
      await sql(
        own.url,
        `CREATE FUNCTION public.append_seen() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.migration_seen VALUES ('append', current_setting('statement_timeout')); RETURN NULL; END $$;
         CREATE TRIGGER append_seen AFTER INSERT ON guard_audit FOR EACH STATEMENT EXECUTE FUNCTION public.append_seen();`,
      );
      const store = await reopen(own.url);
      await store.appendAudit(makeDraft(1));
      expect(await sql(own.url, "SELECT setting FROM public.migration_seen WHERE tag = 'append'")).toEqual([{ setting: "30s" }]);
      await store.close();
    } finally {
      await own.drop();
    }
  });

  it("a migration that cannot get the migration lock within the statement timeout says who holds it, not that the server is unreachable (74), and changes nothing", async () => {
    const own = await createTestDatabase();
    const holder = new pg.Client({ connectionString: own.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1, $2)", [LOCK_CLASS, LOCK_MIGRATE]);
      const err = await expectGuardError(migratePostgres(own.url, { statementTimeoutMs: 300 }), 74);
      expect(err.message).toContain("another session has held the migration lock of the PostgreSQL store at");
      expect(err.message).toContain("another guard is migrating it");
      expect(err.hint).toContain("pg_locks");
      expect(await sql(own.url, "SELECT to_regclass('guard_schema_version') IS NULL AS none")).toEqual([{ none: true }]);
      await holder.query("SELECT pg_advisory_unlock($1, $2)", [LOCK_CLASS, LOCK_MIGRATE]);
      expect(await migratePostgres(own.url, { statementTimeoutMs: 300_000 })).toEqual({ from: 0, to: SCHEMA_VERSION });
    } finally {
      await holder.end();
      await own.drop();
    }
  });
});

describe("schema version 7: prunes that let runs go on", () => {
  it("a store at schema version 6 migrates to 7: its rows are kept, appends continue the chain, the triggers refuse once per statement (even a DELETE that matches nothing), and the prune lock is the owner's alone", async () => {
    const schema = randomName("v6");
    const upTo6 = MIGRATIONS.filter((m) => m.version <= 6);
    await sql(db.url, `CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${VERSION_TABLE_SQL}; ${upTo6.map((m) => m.sql).join(";\n")}`);
    for (const m of upTo6) await sql(db.url, `INSERT INTO ${schema}.guard_schema_version (version, description) VALUES ($1, $2)`, [m.version, m.description]);
    const perRow = (): Promise<Record<string, unknown>[]> =>
      sql(db.url, `SELECT c.relname, (t.tgtype & 1) = 1 AS per_row FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace AND t.tgname = c.relname || '_append_only' AND c.relname NOT IN ('guard_audit_lock', 'guard_prune_lock') ORDER BY c.relname`, [schema]);
    expect((await perRow()).map((r) => r.per_row)).toEqual([true, true, true, true]);
    // Rows as version 6 stored them, and events appended through its function.
    const url = `${db.url}?schema=${schema}`;
    const r = makeRequest();
    await sql(db.url, `INSERT INTO ${schema}.guard_requests (id, body, created_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 hour')`, [r.request.id, canonicalJson(r)]);
    for (let i = 0; i < 3; i++) await sql(db.url, `SELECT * FROM ${schema}.guard_append_audit('test.before', '{"user":"alice"}', '{}')`);

    const store = await reopen(url);
    expect(await sql(db.url, `SELECT max(version)::int AS v FROM ${schema}.guard_schema_version`)).toEqual([{ v: 7 }]);
    expect(await store.getRequest(r.request.id)).not.toBeNull();
    const e = await store.appendAudit(makeDraft(1));
    expect(e.seq).toBe(4);
    expect(await verifyBothWays(store)).toMatchObject({ ok: true, events: 4 });
    expect(await perRow()).toEqual(["guard_approvals", "guard_audit", "guard_consumptions", "guard_requests"].map((relname) => ({ relname, per_row: false })));
    // The owner (here the superuser that migrated) outside guard_prune: refused, even where no row matches.
    for (const table of ["guard_audit", "guard_requests", "guard_approvals", "guard_consumptions"]) {
      await expectRefused(`DELETE FROM ${schema}.${table} WHERE false`);
      await expectRefused(`UPDATE ${schema}.${table} SET body = body`);
    }
    expect(await sql(db.url, `SELECT count(*)::int AS n FROM ${schema}.guard_audit`)).toEqual([{ n: 4 }]);
    expect(await sql(db.url, `SELECT has_table_privilege('public', '${schema}.guard_prune_lock', 'SELECT, UPDATE') AS anyone, (SELECT count(*)::int FROM ${schema}.guard_prune_lock) AS rows`)).toEqual([{ anyone: false, rows: 1 }]);
    expect(await sql(db.url, `SELECT has_function_privilege('public', '${schema}.guard_prune_named(bigint, bigint, jsonb)', 'EXECUTE') AS anyone`)).toEqual([{ anyone: false }]);
  });

  async function expectRefused(text: string): Promise<void> {
    try {
      await sql(db.url, text);
    } catch (e) {
      expect((e as { code?: string }).code, text).toBe("42501");
      expect((e as Error).message).toContain("append-only");
      return;
    }
    throw new Error(`expected "${text}" to be refused`);
  }
});

describe("malformed records handed to the store are refused (70) and nothing is stored", () => {
  it("a request without a signature, an approval for another request, a consumption without a consumer", async () => {
    const { store } = await fresh();
    const r = makeRequest();
    const unsigned = { request: r.request } as unknown as SignedRequest;
    await expectGuardError(store.putRequest(unsigned), 70);
    expect(await store.getRequest(r.request.id)).toBeNull();
    const bad = { ...r, request: { ...r.request, expiresAt: "tomorrow" } };
    await expectGuardError(store.putRequest(bad), 70);
    const id = newId();
    await expectGuardError(store.putApproval(id, makeApproval(newId())), 70);
    expect(await store.listApprovals(id)).toEqual([]);
    const noConsumer = { ...makeConsumption(id), by: null } as unknown as Consumption;
    await expectGuardError(store.consume(noConsumer), 70);
    expect(await store.getConsumption(id)).toBeNull();
  });
});

describe("S2: corrupt rows are integrity errors (65), never 'not found'", () => {
  async function plant(schema: string, table: string, columns: string, values: unknown[]): Promise<void> {
    const params = values.map((_, i) => `$${i + 1}`).join(", ");
    await sql(db.url, `INSERT INTO ${schema}.${table} (${columns}) VALUES (${params})`, values);
  }
  const now = new Date().toISOString();

  it("S2: a request row that is not JSON, or not a signed request, or holds another id", async () => {
    const { store, schema } = await fresh();
    for (const body of ["not json", '{"request": 1}', "[]", "", canonicalJson(makeRequest(newId()))]) {
      const id = newId();
      await plant(schema, "guard_requests", "id, body, created_at, expires_at", [id, body, now, now]);
      const e = await expectGuardError(store.getRequest(id), 65);
      expect(e.message).toContain(id);
    }
    const listed = await store.listRequests();
    expect(listed.requests).toEqual([]);
    expect(listed.damaged).toHaveLength(5);
  });

  it("S2: an approval row that is not JSON, or for another request", async () => {
    const { store, schema } = await fresh();
    const id = newId();
    await plant(schema, "guard_approvals", "request_id, digest, body", [id, "x", "{truncated"]);
    await expectGuardError(store.listApprovals(id), 65);
    const id2 = newId();
    const other = canonicalJson(makeApproval(newId()));
    await plant(schema, "guard_approvals", "request_id, digest, body", [id2, sha256Hex(other), other]);
    await expectGuardError(store.listApprovals(id2), 65);
  });

  it("S2: a consumption row that is not JSON or for another request", async () => {
    const { store, schema } = await fresh();
    const id = newId();
    await plant(schema, "guard_consumptions", "request_id, body", [id, "null"]);
    await expectGuardError(store.getConsumption(id), 65);
    const id2 = newId();
    await plant(schema, "guard_consumptions", "request_id, body", [id2, canonicalJson(makeConsumption(newId()))]);
    await expectGuardError(store.getConsumption(id2), 65);
  });

  it("S2: an audit row that is not JSON, has the wrong shape, or disagrees with its seq", async () => {
    const cases: Array<(e: AuditEvent) => string> = [() => "garbage", (e) => canonicalJson({ ...e, actor: "x" }), (e) => canonicalJson({ ...e, seq: 7 })];
    for (const make of cases) {
      const { store, schema } = await fresh();
      const good = await store.appendAudit(makeDraft(1));
      const bad = chainEvent(good, makeDraft(2), now);
      const row = [2, bad.hash, make(bad), now];
      // Since schema version 2 the CHECK constraint refuses such rows, even from a superuser…
      await expect(plant(schema, "guard_audit", "seq, hash, body, time", row)).rejects.toMatchObject({ code: "23514" });
      // …but a store may hold them from before (the constraint is NOT VALID), or from an owner who dropped it.
      await sql(db.url, `ALTER TABLE ${schema}.guard_audit DROP CONSTRAINT guard_audit_row_is_an_event`);
      await plant(schema, "guard_audit", "seq, hash, body, time", row);
      await expectGuardError(collect(store.readAudit()), 65);
    }
  });

  it("H1: an audit row nested 200,000 deep is an integrity error (65) naming its seq, not a crash", async () => {
    const { store, schema } = await fresh();
    const good = await store.appendAudit(makeDraft(1));
    const bad = chainEvent(good, makeDraft(2), now);
    const deep = `{"actor":${"[".repeat(200_000)}${"]".repeat(200_000)}}`;
    // Such a row predates the schema's CHECK constraint (NOT VALID), or an owner dropped it.
    await sql(db.url, `ALTER TABLE ${schema}.guard_audit DROP CONSTRAINT guard_audit_row_is_an_event`);
    await plant(schema, "guard_audit", "seq, hash, body, time", [2, bad.hash, deep, now]);
    const e = await expectGuardError(collect(store.readAudit()), 65);
    expect(e.message).toMatch(/audit event 2 .* more than 64 levels deep/);
  });
});

describe("waiting for approvals (LISTEN/NOTIFY)", () => {
  /** Resolves to "woken" if the wait ends first, "still waiting" if `ms` pass first. */
  const raceWith = async (p: Promise<void>, ms: number): Promise<string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([p.then(() => "woken"), new Promise<string>((r) => (timer = setTimeout(() => r("still waiting"), ms)))]);
    } finally {
      clearTimeout(timer); // not left pending for the files after this one in its process
    }
  };

  it("an approval stored by another instance wakes the waiter, not its 60 s poll", async () => {
    const { store, url } = await fresh({ pollMs: 60_000 });
    const writer = await reopen(url);
    const r = makeRequest();
    await store.putRequest(r);
    await store.waitForChange(r.request.id, 300); // opens the LISTEN connection
    const waiting = store.waitForChange(r.request.id, 20_000);
    await writer.putApproval(r.request.id, makeApproval(r.request.id));
    expect(await raceWith(waiting, 15_000)).toBe("woken");
  });

  it("a notification for another request does not wake it", async () => {
    const { store, url } = await fresh({ pollMs: 60_000 });
    const writer = await reopen(url);
    const mine = newId();
    const other = newId();
    await store.waitForChange(mine, 300);
    const waiting = store.waitForChange(mine, 20_000);
    await writer.putApproval(other, makeApproval(other));
    expect(await raceWith(waiting, 700)).toBe("still waiting");
    await writer.consume(makeConsumption(mine)); // consumptions are announced too
    expect(await raceWith(waiting, 15_000)).toBe("woken");
  });

  it("a dropped LISTEN connection wakes the waiter and is replaced", async () => {
    const appName = randomName("listen");
    const { url } = await fresh();
    const store = await reopen(`${url}&application_name=${appName}`, { pollMs: 60_000 });
    const writer = await reopen(url);
    const id = newId();
    await store.waitForChange(id, 300);
    const waiting = store.waitForChange(id, 20_000);
    const killed = await sql(ADMIN_URL, "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'", [appName]);
    expect(killed).toEqual([{ ok: true }]);
    expect(await raceWith(waiting, 15_000)).toBe("woken");
    await store.waitForChange(id, 300); // reconnects
    const listeners = await sql(ADMIN_URL, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'", [appName]);
    expect(listeners).toEqual([{ n: 1 }]);
    const again = store.waitForChange(id, 20_000);
    await writer.putApproval(id, makeApproval(id));
    expect(await raceWith(again, 15_000)).toBe("woken");
  });

  it("the fallback poll ends a wait after pollMs even without a notification", async () => {
    const { store } = await fresh({ pollMs: 200 });
    expect(await raceWith(store.waitForChange(newId(), 60_000), 15_000)).toBe("woken");
  });

  it("close() ends every connection, the listener's included", async () => {
    const appName = randomName("close");
    const { url } = await fresh();
    const store = await openPostgresStore(`${url}&application_name=${appName}`);
    await store.putRequest(makeRequest());
    await store.waitForChange(newId(), 100);
    const count = async () => Number((await sql(ADMIN_URL, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [appName]))[0]?.n);
    expect(await count()).toBeGreaterThanOrEqual(2);
    await store.close();
    await store.close(); // idempotent
    for (let i = 0; i < 50 && (await count()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await count()).toBe(0);
  });
});

describe("an unreachable or refusing database is exit 74 with the host, and never shows the password", () => {
  const cases: Array<[string, string, string | RegExp]> = [
    ["nothing listens on the port", "postgres://guard:s3cret-pw@127.0.0.1:1/guard", "127.0.0.1:1/guard"],
    ["the database does not exist", urlFor("guard_no_such_db_x").replace("postgres@", "postgres:s3cret-pw@"), /127\.0\.0\.1:5432\/guard_no_such_db_x: .*does not exist/],
    ["the role does not exist", urlFor("postgres", "guard_no_such_role_x"), /127\.0\.0\.1:5432\/postgres: .*guard_no_such_role_x/],
    ["the host name does not resolve", "postgres://guard:s3cret-pw@no-such-host.invalid:5432/guard", "no-such-host.invalid:5432/guard"],
    ["the server refuses TLS that the URL requires", `${urlFor("postgres")}?sslmode=verify-full`, "127.0.0.1:5432/postgres"],
  ];
  for (const [what, url, expected] of cases) {
    it(`${what}`, async () => {
      const e = await expectGuardError(openPostgresStore(url, { connectTimeoutMs: 3_000 }), 74);
      if (typeof expected === "string") expect(e.message).toContain(expected);
      else expect(e.message).toMatch(expected);
      expect(`${e.message} ${e.hint ?? ""}`).not.toContain("s3cret-pw");
      expect(e.hint).toContain("nothing was run");
    });
  }

  it("migratePostgres against an unreachable server is 74 too", async () => {
    const e = await expectGuardError(migratePostgres("postgres://127.0.0.1:1/guard"), 74);
    expect(e.message).toContain("127.0.0.1:1");
  });

  it("PG* variables fill in what the URL leaves out", async () => {
    const saved = { PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT, PGUSER: process.env.PGUSER };
    const admin = new URL(ADMIN_URL);
    Object.assign(process.env, { PGHOST: admin.hostname, PGPORT: admin.port || "5432", PGUSER: decodeURIComponent(admin.username) });
    try {
      const store = await openPostgresStore(`postgres:///${db.name}?schema=${randomName("env")}`);
      open.push(store);
      expect(store.description).toContain(`${admin.hostname}:${admin.port || "5432"}/${db.name}`);
      expect(Number.isFinite(await store.now())).toBe(true);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

it("pg is loaded only when a PostgreSQL store is opened (no value import of pg in the store module)", async () => {
  const source = await readFile(new URL("../../src/adapters/store/postgres.ts", import.meta.url), "utf8");
  const pgImports = source.split("\n").filter((l) => /^\s*import\b.*from\s+["']pg["']/.test(l));
  expect(pgImports.length).toBeGreaterThan(0);
  for (const line of pgImports) expect(line).toMatch(/^\s*import type\b/);
  expect(source).toContain('import("pg")');
});
