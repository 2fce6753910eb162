/**
 * PostgreSQL "stops" between the request and the run, as guard sees it: guard talks to the shared server
 * through a TCP proxy (pg-proxy.ts) in front of a fresh database, and the test closes the proxy. The run
 * must refuse with 74 naming the host, run nothing and consume nothing; with the proxy back, the approval
 * runs once. Then the harder case: the connection dies exactly while the consume statement is answered,
 * after the server committed it. The shared server itself is never touched.
 *
 * The runs that meet the outage (proxy closed, connection cut) are the built CLI: a real guard process
 * whose connection fails. The approved requests, the read-outs (`show`, `audit verify`) and the runs
 * with the server back (the approved run, the replays) run guard in the test process (the harness's
 * inProcess), each with a connection of its own that it closes before it returns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeWorld, type World } from "../e2e/world.js";
import { createTestDatabase, sql } from "../helpers/pg.js";
import { addPurgeScript, approvedRequest, auditVerify, runRequest, runsOf, statusOf } from "./harness.js";
import { startPgProxy, type PgProxy } from "./pg-proxy.js";

let w: World;
let db: { url: string; name: string; drop(): Promise<void> };
let proxy: PgProxy;
let env: Record<string, string>;
const IN = { inProcess: true } as const;

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startPgProxy();
  w = await makeWorld();
  await addPurgeScript(w);
  const url = new URL(db.url);
  url.port = String(proxy.port);
  env = { GUARD_STORE: url.toString() };
});
afterAll(async () => {
  await proxy?.stop();
  await w?.cleanup();
  await db?.drop();
});

const consumedRows = async (id: string): Promise<number> =>
  Number((await sql(db.url, "SELECT count(*)::int AS n FROM guard_consumptions WHERE request_id = $1", [id]))[0]?.n);

describe("the PostgreSQL store becomes unreachable between request and run", () => {
  it("74 naming the host, nothing runs, nothing consumed; with the server back the approval runs once", async () => {
    const tag = "--ticket=pg-down";
    const id = await approvedRequest(w, tag, env, IN);
    await proxy.stop();
    try {
      const r = await runRequest(w, id, { env });
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toContain(`127.0.0.1:${proxy.port}`);
      expect(r.stdout).toBe("");
      expect(await runsOf(w, tag)).toBe(0);
      expect(await consumedRows(id)).toBe(0);
    } finally {
      await proxy.start();
    }
    expect(await statusOf(w, id, env, IN)).toBe("approved");
    const again = await runRequest(w, id, { env, ...IN });
    expect(again.code, again.stderr).toBe(0);
    expect(await runsOf(w, tag)).toBe(1);
    const replay = await runRequest(w, id, { env, ...IN });
    expect(replay.code).toBe(77);
    expect(await runsOf(w, tag)).toBe(1);
    const v = await auditVerify(w, env, IN);
    expect(v.code, JSON.stringify(v.report?.problems)).toBe(0);
  });

  it("the connection dies while the consume statement is answered: 74, nothing runs, and verify names the used-up request", async () => {
    const tag = "--ticket=pg-cut";
    const id = await approvedRequest(w, tag, env, IN);
    const cut = proxy.cutAfter("INSERT INTO guard_consumptions");
    const r = await runRequest(w, id, { env });
    await cut;
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toContain(`127.0.0.1:${proxy.port}`);
    expect(await runsOf(w, tag)).toBe(0);
    // The server committed the consumption before the answer was lost: the approval is spent (the
    // window SECURITY.md describes), so it must never run, and verify must say what became of it.
    expect(await consumedRows(id)).toBe(1);
    const replay = await runRequest(w, id, { env, ...IN });
    expect(replay.code).toBe(77);
    expect(await runsOf(w, tag)).toBe(0);
    const v = await auditVerify(w, env, IN);
    expect(v.report, v.stderr).not.toBeNull();
    // Not tampering: a used-up approval whose run never started, named by its request id.
    expect(v.code).toBe(0);
    const explained = (v.report?.consumedNeverStarted ?? []).some((p) => p.includes(id));
    expect(explained, JSON.stringify(v.report)).toBe(true);
  });
});
