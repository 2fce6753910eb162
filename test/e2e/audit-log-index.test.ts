import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { auditFilterMatches, type AuditFilter } from "../../src/core/audit-types.js";
import type { AuditEvent } from "../../src/core/types.js";
import { filters, insertAuditRows, lines, makeLog, REQUESTS } from "../helpers/audit-log.js";
import { createTestDatabase, randomName } from "../helpers/pg.js";
import { guard, makeWorld, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { expectNoGuardConnections } from "../helpers/pg-connections.js";

/**
 * `guard audit log` with filters, the built CLI on both stores (issue 18): whatever the indexes hold,
 * its output is what a scan of the whole log filters to. Here the command line: every option at least
 * once (ALL_OPTIONS), the seek index built on first use, a forged index. The random filters run in
 * process over the same stores (test/commands/audit-log.test.ts), without a spawned guard each.
 *
 * The first filter of each comparison (ALL_OPTIONS, which uses every option; the forged index's --since)
 * goes through the built CLI; the whole log, the other filters and `store migrate` run the same command
 * line in process (guardIn), without a Node start each. The PostgreSQL store's URL names host, port, user
 * and database, so the pg driver's reading of this process's PG* variables (none set) changes nothing;
 * after each of its tests no connection of guard's is left to its database.
 */

/** The command line for a filter (--since as an ISO time: the log's times are fixed). */
function args(f: AuditFilter): string[] {
  const a = ["audit", "log", "--json"];
  if (f.sinceMs !== undefined) a.push("--since", new Date(Math.floor(f.sinceMs)).toISOString());
  if (f.type !== undefined) a.push("--type", f.type.family ? f.type.prefix.slice(0, -1) : f.type.prefix);
  if (f.requestId !== undefined) a.push("--request", f.requestId);
  if (f.actor !== undefined) a.push("--actor", f.actor);
  return a;
}

/** As the CLI sees the filter (--since goes through an ISO time, so whole milliseconds). */
function asCli(f: AuditFilter): AuditFilter {
  return f.sinceMs === undefined ? f : { ...f, sinceMs: Math.floor(f.sinceMs) };
}

/** A filter that uses every option of the command line (each of the log's requests has events of bob's). */
const ALL_OPTIONS = (log: AuditEvent[]): AuditFilter => ({ sinceMs: Date.parse(log[100]!.time) + 0.5, type: { prefix: "approval.", family: true }, requestId: REQUESTS[0]!, actor: "bob" });

async function logOf(w: World, a: string[], env: Record<string, string>, run: typeof guard | typeof guardIn): Promise<number[]> {
  const r = await run(w, a, { env });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as AuditEvent).seq);
}

async function expectSameAsScan(w: World, log: AuditEvent[], fs: AuditFilter[], env: Record<string, string> = {}): Promise<void> {
  expect(log.filter((e) => auditFilterMatches(e, ALL_OPTIONS(log))).length, "ALL_OPTIONS keeps some events").toBeGreaterThan(0);
  expect(await logOf(w, ["audit", "log", "--json"], env, guardIn)).toEqual(log.map((e) => e.seq));
  for (const [i, f] of fs.entries()) {
    const want = log.filter((e) => auditFilterMatches(e, asCli(f))).map((e) => e.seq);
    // The first through the built CLI, the rest in process.
    expect(await logOf(w, args(f), env, i === 0 ? guard : guardIn), args(f).join(" ")).toEqual(want);
  }
}

describe("file store", () => {
  let w: World;
  const log = makeLog(2500, 21);

  beforeAll(async () => {
    w = await makeWorld();
    await mkdir(join(w.store, "audit"), { recursive: true, mode: 0o700 });
    await writeFile(join(w.store, "audit", "events.jsonl"), lines(log), { mode: 0o600 });
  });
  afterAll(async () => w?.cleanup());

  it("random filters, a clock that goes backwards: the same events as a scan; the seek index is built on first use", async () => {
    await expectSameAsScan(w, log, [ALL_OPTIONS(log), ...filters(log, 2, 31)]);
    expect(await readFile(join(w.store, "index", "audit-seek"), "utf8")).toMatch(/^guard-audit-seek 1 /);
  }, 120_000);

  it("a stale or forged seek index changes nothing", async () => {
    const path = join(w.store, "index", "audit-seek");
    const text = await readFile(path, "utf8");
    // Every entry one event off, and every max claimed to be the dawn of time.
    await writeFile(path, text.replace(/^(\d+) (\d+) (\S+)$/gm, (_m, s: string, o: string) => `${Number(s) + 1} ${o} 0`));
    const late = Date.parse(log[log.length - 20]!.time);
    await expectSameAsScan(w, log, [{ sinceMs: late }, { sinceMs: late, actor: "bob" }]);
  }, 120_000);
});

describe("PostgreSQL store", () => {
  let w: World;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: Record<string, string>;
  const log = makeLog(2500, 22);

  beforeAll(async () => {
    w = await makeWorld();
    db = await createTestDatabase();
    const schema = randomName("ae");
    env = { GUARD_STORE: `${db.url}?schema=${schema}` };
    const m = await guardIn(w, ["store", "migrate"], { env });
    expect(m.code, m.stderr).toBe(0);
    await insertAuditRows(db.url, schema, log);
  }, 60_000);
  afterEach(async () => {
    await expectNoGuardConnections(db.name);
  });
  afterAll(async () => {
    await w?.cleanup();
    await db?.drop();
  });

  it("random filters, a clock that goes backwards: the same events as a scan", async () => {
    await expectSameAsScan(w, log, [ALL_OPTIONS(log), ...filters(log, 2, 33)], env);
  }, 120_000);
});
