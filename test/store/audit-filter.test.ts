import { mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFileStore } from "../../src/adapters/store/file.js";
import { auditFilterQuery, openPostgresStore } from "../../src/adapters/store/postgres.js";
import type { Store } from "../../src/adapters/store/types.js";
import { chainEvent } from "../../src/core/audit.js";
import { auditFilterMatches, type AuditFilter } from "../../src/core/audit-types.js";
import type { AuditEvent } from "../../src/core/types.js";
import { createTestDatabase, randomName, sql } from "../helpers/pg.js";
import { collect, expectGuardError } from "./contract.js";
import { newId } from "./fixtures.js";
import { filters, insertAuditRows, lines, makeLog, REQUESTS, T0 } from "../helpers/audit-log.js";

/**
 * `guard audit log` with filters through indexes (issue 18): Store.readAuditFiltered must return every
 * event the exact filter keeps, whatever the index says, on logs whose clock goes backwards, with
 * stale, forged or torn indexes.
 */

async function expectSameAsScan(store: Store, fs: AuditFilter[]): Promise<void> {
  const all = await collect(store.readAudit());
  for (const f of fs) {
    const want = all.filter((e) => auditFilterMatches(e, f)).map((e) => e.seq);
    const got = (await collect(store.readAuditFiltered!(f))).filter((e) => auditFilterMatches(e, f)).map((e) => e.seq);
    expect(got, JSON.stringify(f)).toEqual(want);
  }
}


const EVENTS = 1500;
const PAD = 450;
const SEEK_EVERY = 16 << 10;

describe("file store: audit log through the seek index and index/created", () => {
  let parent: string;
  let dir: string;
  let store: Store;
  let log: AuditEvent[];
  let clock = T0;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), "guard-auditidx-"));
    dir = join(parent, "store");
    // 1,500 events of ~750 bytes (1.1 MB: more than one of the store's 1 MiB reads) with a seek entry
    // every 16 KiB: about 70 entries, as a 17 MB log has at the default spacing of 256 KiB. Every filter
    // reads through the log, at a cost per event: 3,000 events of ~1 KB (3.6 MB, 14 entries) cost ~11 s
    // of CPU.
    log = makeLog(EVENTS, 7, PAD);
    expect(log.some((e, i) => i > 0 && e.time < log[i - 1]!.time)).toBe(true); // the clock does go back
    mkdirSync(join(dir, "audit"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "audit", "events.jsonl"), lines(log), { mode: 0o600 });
    store = await openFileStore(dir, { now: () => clock, seekEveryBytes: SEEK_EVERY });
  });

  afterAll(async () => {
    await store.close();
    await rm(parent, { recursive: true, force: true });
  });

  it("a store from before the index: built on first use, then every filter reads exactly what a scan keeps", async () => {
    await expectSameAsScan(store, filters(log, 120));
    const index = await readFile(join(dir, "index", "audit-seek"), "utf8");
    expect(index.split("\n").length).toBeGreaterThan(50); // 1.1 MB of log, an entry every 16 KiB
  });

  it("--since near the end reads only the end of the log", async () => {
    const since = Date.parse(log[log.length - 50]!.time);
    const read = await collect(store.readAuditFiltered!({ sinceMs: since }));
    expect(read.length).toBeLessThan(log.length / 4);
    expect(read.map((e) => e.seq)).toContain(log[log.length - 1]!.seq);
  });

  it("appends extend the index (a clock that goes backwards included) and stay exact", async () => {
    const before = (await readFile(join(dir, "index", "audit-seek"), "utf8")).split("\n").length;
    clock = Date.parse(log[log.length - 1]!.time);
    for (let i = 0; i < 600; i++) {
      clock += i % 50 === 49 ? -7_200_000 : 1000;
      log.push(await store.appendAudit({ type: "run.started", actor: { principal: "dave", fingerprint: "SHA256:dave", user: "dave" }, data: { pad: "y".repeat(PAD), requestId: REQUESTS[i % 4] } }));
    }
    const after = (await readFile(join(dir, "index", "audit-seek"), "utf8")).split("\n").length;
    expect(after).toBeGreaterThan(before);
    await expectSameAsScan(store, filters(log, 80, 12));
  });

  it("--request starts at the request's request.created event when index/created names it", async () => {
    const id = newId();
    clock += 1000;
    await store.appendAudit({ type: "request.created", actor: { principal: "erin", fingerprint: "SHA256:erin", user: "erin" }, data: { requestId: id } });
    await store.appendAudit({ type: "approval.recorded", actor: { principal: "bob", fingerprint: "SHA256:bob", user: "bob" }, data: { requestId: id } });
    const read = await collect(store.readAuditFiltered!({ requestId: id }));
    expect(read.map((e) => e.type)).toEqual(["request.created", "approval.recorded"]);
    // A forged hint (pointing at another event) is ignored: the whole log is read.
    await writeFile(join(dir, "index", "created", id), "0\n");
    expect((await collect(store.readAuditFiltered!({ requestId: id }))).length).toBeGreaterThan(EVENTS); // the whole log, not from the hint on
    log.push(...(await collect(store.readAudit())).slice(log.length));
  });

  it.each([
    ["garbage", () => "not an index\n"],
    ["torn", (t: string) => t.slice(0, -3)],
    ["every entry's seq off by one (a stale index)", (t: string) => t.replace(/^(\d+) (\d+) (\S+)$/gm, (_m, s: string, o: string, x: string) => `${Number(s) + 1} ${o} ${x}`)],
    ["every offset moved into a line", (t: string) => t.replace(/^(\d+) (\d+) (\S+)$/gm, (_m, s: string, o: string, x: string) => `${s} ${Number(o) + 10} ${x}`)],
    ["another log's header", (t: string) => t.replace(/^(guard-audit-seek 1 \d+ )[0-9a-f]{64}/, `$1${"0".repeat(64)}`)],
    ["a symlink", null],
  ])("an index that is %s: still exact", async (_name, edit) => {
    const path = join(dir, "index", "audit-seek");
    const text = await readFile(path, "utf8");
    if (edit === null) {
      await rm(path);
      const { symlink } = await import("node:fs/promises");
      await symlink("/etc/passwd", path);
    } else {
      await writeFile(path, edit(text));
    }
    await expectSameAsScan(store, filters(log, 25, 13));
    if (edit === null) await rm(path);
  });

  it("a log rewritten in place of the old one (as prune does): the old index is ignored and rebuilt", async () => {
    const path = join(dir, "index", "audit-seek");
    await collect(store.readAuditFiltered!({ sinceMs: 0 })); // an index for the current log
    const old = await readFile(path, "utf8");
    // The same events from a new genesis, fewer of them: every offset means something else now.
    const rewritten = makeLog(1500, 99, PAD);
    const tmp = join(dir, "audit", "events.jsonl.new");
    await writeFile(tmp, lines(rewritten), { mode: 0o600 });
    await rename(tmp, join(dir, "audit", "events.jsonl"));
    await expectSameAsScan(store, filters(rewritten, 40, 14));
    expect(await readFile(path, "utf8")).not.toBe(old);
    // and a fresh store's first append starts its index
    const fresh = join(parent, "fresh");
    const s2 = await openFileStore(fresh);
    await s2.appendAudit({ type: "policy.error", actor: { principal: null, fingerprint: null, user: "u" }, data: {} });
    expect((await stat(join(fresh, "index", "audit-seek"))).size).toBeGreaterThan(60);
    await s2.close();
  });

  it("a damaged line after the start is an error (65), as in readAudit", async () => {
    const path = join(dir, "audit", "events.jsonl");
    const text = await readFile(path, "utf8");
    const all = text.split("\n");
    all[all.length - 3] = "{not json";
    await writeFile(path, all.join("\n"));
    await expectGuardError(collect(store.readAudit()), 65);
    await expectGuardError(collect(store.readAuditFiltered!({ sinceMs: 0 })), 65);
    await expectGuardError(collect(store.readAuditFiltered!({ sinceMs: 1e15 })), 65);
  });
});

describe("PostgreSQL store: audit log through the indexes of migration 5", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: Store;
  let url: string;
  let schema: string;
  let log: AuditEvent[];

  const insert = (events: AuditEvent[]): Promise<void> => insertAuditRows(db.url, schema, events);

  beforeAll(async () => {
    db = await createTestDatabase();
    schema = randomName("af");
    url = `${db.url}?schema=${schema}`;
    store = await openPostgresStore(url, { auditPageSize: 250 });
    // 1,500 short bodies, read six pages at a time: a --since read runs guard_audit_time (a regular
    // expression in plpgsql) on every row it passes, for each of the 150 filters below, which made this
    // file the suite's largest user of PostgreSQL's CPU at 3,000 rows of 1 KB. Rows are paged by count,
    // so no property here depends on a body's length; the planner still picks each index (EXPLAIN test).
    log = makeLog(1500, 7, 20);
    // A time that is no calendar date (JavaScript reads Feb 30 as Mar 2): the index must not decide it.
    const last = log[log.length - 1]!;
    log.push(chainEvent({ seq: last.seq, hash: last.hash }, { type: "run.started", actor: { principal: "bob", fingerprint: "SHA256:bob", user: "bob" }, data: { requestId: REQUESTS[0] } }, "2026-02-30T00:00:00.000Z"));
    await insert(log);
    await sql(db.url, `ANALYZE ${schema}.guard_audit`);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it("every filter reads exactly what a scan keeps (a clock that goes backwards, a non-date)", async () => {
    expect(log.some((e, i) => i > 0 && e.time < log[i - 1]!.time)).toBe(true); // the clock does go back
    await expectSameAsScan(store, filters(log, 150));
    const feb30 = await collect(store.readAuditFiltered!({ sinceMs: Date.parse("2026-03-02T00:00:00.000Z") }));
    expect(feb30.map((e) => e.time)).toContain("2026-02-30T00:00:00.000Z");
  }, 120_000); // 150 filters, each read against a 1,500-row log: a few seconds alone, far more on a busy machine

  it.each([
    ["2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z"],
    ["2000-02-29T00:00:00.000Z", "2000-02-29T00:00:00.000Z"],
    ["1900-02-29T00:00:00.000Z", null],
    ["2026-02-29T00:00:00.000Z", null],
    ["2026-04-31T00:00:00.000Z", null],
    ["2026-12-31T00:00:00.000Z", "2026-12-31T00:00:00.000Z"],
    ["2026-13-01T00:00:00.000Z", null],
    ["2026-00-10T00:00:00.000Z", null],
    ["2026-01-00T00:00:00.000Z", null],
    ["2026-01-01T24:00:00.000Z", null],
    ["2026-01-01T23:60:00.000Z", null],
    ["2026-01-01T23:59:60.000Z", null],
    ["2026-01-01T23:59:59Z", null],
  ])("guard_audit_time of a body with time %s is %s (only a real date decides; anything else is read)", async (time, want) => {
    const body = `{"actor":{},"data":{},"hash":"${"0".repeat(64)}","prev":"${"0".repeat(64)}","seq":1,"time":"${time}","type":"run.started"}`;
    const rows = await sql(db.url, `SELECT ${schema}.guard_audit_time($1) AS t, ${schema}.guard_audit_type($1) AS k`, [body]);
    expect(rows[0]!.t).toBe(want);
    expect(rows[0]!.k).toBe("run.started");
    if (want !== null) expect(Date.parse(time)).toBe(Date.parse(want));
  });

  it("EXPLAIN: a recent --since, a --request and a --type use their indexes, not the whole table", async () => {
    const plan = async (f: AuditFilter): Promise<string> => {
      const q = auditFilterQuery(f)!;
      const { default: pg } = await import("pg");
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await c.query(`SET search_path = ${schema}`);
        const where = q.where.replaceAll("$3", "$1").replaceAll("$4", "$2");
        const r = await c.query<Record<string, unknown>>(`EXPLAIN SELECT seq::text, hash, body FROM guard_audit WHERE seq > 0 AND ${where} ORDER BY seq LIMIT 10000`, q.values);
        return r.rows.map((x) => String(x["QUERY PLAN"])).join("\n");
      } finally {
        await c.end();
      }
    };
    const recent = Math.max(...log.slice(0, -1).map((e) => Date.parse(e.time))) - 10_000;
    expect(await plan({ sinceMs: recent })).toContain("guard_audit_by_time");
    expect(await plan({ requestId: newId() })).toContain("guard_audit_by_request");
    expect(await plan({ type: { prefix: "policy.error", family: false } })).toContain("guard_audit_by_type");
  });

  it("a damaged row (from before migration 2) is read and refused (65) by a filtered read too", async () => {
    await sql(db.url, `ALTER TABLE ${schema}.guard_audit DROP CONSTRAINT guard_audit_row_is_an_event`);
    await sql(db.url, `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) VALUES (100000, 'junk', 'not json', '2000-01-01')`);
    await expectGuardError(collect(store.readAudit()), 65);
    await expectGuardError(collect(store.readAuditFiltered!({ sinceMs: Date.parse("2030-01-01T00:00:00.000Z") })), 65);
    await expectGuardError(collect(store.readAuditFiltered!({ requestId: newId() })), 65);
  });
});
