/**
 * `guard audit log` with filters, in process on both real stores (issue 18): the command as the CLI
 * calls it (its options as strings: --since an ISO time, --type a type or family, --request, --actor)
 * over a file store and a PostgreSQL store opened by guard's own openStore, whatever their indexes hold;
 * its output is what a scan of the whole log filters to. The random filters were once each a spawned
 * `guard audit log` (test/e2e/audit-log-index.test.ts), which keeps the built CLI on both stores with
 * a few filters that use every option, the index built on first use and a forged index.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLogCommand, type AuditLogOptions } from "../../src/commands/audit.js";
import { migratePostgres } from "../../src/adapters/store/postgres.js";
import { auditFilterMatches, type AuditFilter } from "../../src/core/audit-types.js";
import type { AuditEvent } from "../../src/core/types.js";
import { filters, insertAuditRows, lines, makeLog } from "../helpers/audit-log.js";
import { createTestDatabase, randomName } from "../helpers/pg.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { makeProject, type Project } from "./project.js";

/** The options the CLI gives for a filter (--since as an ISO time: the log's times are fixed). */
function optionsOf(f: AuditFilter): AuditLogOptions {
  const o: AuditLogOptions = { json: true };
  if (f.sinceMs !== undefined) o.since = new Date(Math.floor(f.sinceMs)).toISOString();
  if (f.type !== undefined) o.type = f.type.family ? f.type.prefix.slice(0, -1) : f.type.prefix;
  if (f.requestId !== undefined) o.request = f.requestId;
  if (f.actor !== undefined) o.actor = f.actor;
  return o;
}

/** As the CLI sees the filter (--since goes through an ISO time, so whole milliseconds). */
function asCli(f: AuditFilter): AuditFilter {
  return f.sinceMs === undefined ? f : { ...f, sinceMs: Math.floor(f.sinceMs) };
}

let p: Project;
beforeAll(async () => {
  p = await makeProject();
}, 30_000);
afterAll(async () => p?.cleanup());

async function logOf(store: string, o: AuditLogOptions): Promise<number[]> {
  const rt = p.runtime({ env: { GUARD_STORE: store }, realStore: true });
  expect(await exitCodeOf(rt, () => auditLogCommand(o, rt)), rt.stderr()).toBe(0);
  expect(rt.opened).toEqual([store]);
  return rt
    .stdout()
    .split("\n")
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as AuditEvent).seq);
}

async function expectSameAsScan(store: string, log: AuditEvent[], fs: AuditFilter[]): Promise<void> {
  expect(await logOf(store, { json: true })).toEqual(log.map((e) => e.seq));
  for (const f of fs) {
    const want = log.filter((e) => auditFilterMatches(e, asCli(f))).map((e) => e.seq);
    expect(await logOf(store, optionsOf(f)), JSON.stringify(optionsOf(f))).toEqual(want);
  }
}

describe("guard audit log, in process: file store", () => {
  let dir: string;
  const log = makeLog(2500, 21);

  beforeAll(async () => {
    dir = join(p.dir, "file-store");
    await mkdir(join(dir, "audit"), { recursive: true, mode: 0o700 });
    await writeFile(join(dir, "audit", "events.jsonl"), lines(log), { mode: 0o600 });
  });

  it("random filters, a clock that goes backwards: the same events as a scan; the seek index is built on first use", async () => {
    await expectSameAsScan(`file:${dir}`, log, filters(log, 14, 31));
    expect(await readFile(join(dir, "index", "audit-seek"), "utf8")).toMatch(/^guard-audit-seek 1 /);
  }, 120_000);

  it("a stale or forged seek index changes nothing", async () => {
    const path = join(dir, "index", "audit-seek");
    const text = await readFile(path, "utf8");
    // Every entry one event off, and every max claimed to be the dawn of time.
    await writeFile(path, text.replace(/^(\d+) (\d+) (\S+)$/gm, (_m, s: string, o: string) => `${Number(s) + 1} ${o} 0`));
    const late = Date.parse(log[log.length - 20]!.time);
    await expectSameAsScan(`file:${dir}`, log, [{ sinceMs: late }, { sinceMs: late, actor: "bob" }, ...filters(log, 4, 32)]);
  }, 120_000);
});

describe("guard audit log, in process: PostgreSQL store", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let url: string;
  const log = makeLog(2500, 22);

  beforeAll(async () => {
    db = await createTestDatabase();
    const schema = randomName("ae");
    url = `${db.url}?schema=${schema}`;
    await migratePostgres(url); // what `guard store migrate` does
    await insertAuditRows(db.url, schema, log);
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it("random filters, a clock that goes backwards: the same events as a scan", async () => {
    await expectSameAsScan(url, log, filters(log, 14, 33));
  }, 120_000);
});
