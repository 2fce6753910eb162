/**
 * The PostgreSQL store end to end: requester and approver are separate processes with separate homes and
 * keys that share only the database; `--wait` wakes when the approval is stored; 50 processes race for
 * one approval; an unreachable database refuses with 74 and runs nothing.
 *
 * The built CLI: the first flow's request and run (alice's processes), the waiting `--wait` run, and the
 * 50 racing runs (processes at once). In process (guardIn, the same command line without a Node start
 * each; bob's home and key are still his own, and the test process is still another process): the first
 * flow's list, approval, replay and verify, the approval that wakes the waiting run, the request and
 * approval the race is for, the junk-row (SW7) flow and the unreachable database. The store URLs name
 * host, port, user and database, so the pg driver's reading of this process's PG* variables (none set)
 * changes nothing. After each test no connection of guard's is left to the database (an in-process call
 * must close its pool as the ended process would).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BIN, guard, homeOf, makeHomes, makeWorld, requestIdIn, type World } from "./world.js";
import { createTestDatabase, sql, withManyConnections } from "../helpers/pg.js";
import { expectNoGuardConnections } from "../helpers/pg-connections.js";
import { guardIn } from "../helpers/in-process.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let w: World;
let db: { url: string; name: string; drop(): Promise<void> };
/** Per-person homes and state directories: the database is the only thing they share. */
const as = (who: string): Record<string, string> => homeOf(w, who);

beforeAll(async () => {
  db = await createTestDatabase();
  w = await makeWorld();
  w.env.GUARD_STORE = db.url;
  await makeHomes(w, ["alice", "bob"]);
});
afterEach(async () => {
  await expectNoGuardConnections(db.name);
});
afterAll(async () => {
  await w.cleanup();
  await db.drop();
});

describe("PostgreSQL store", () => {
  it("request → approval from another process and home → one run → replay refused", async () => {
    const args = ["./maintenance/purge-lb-state.sh", "--ticket=pg-1"];
    const r = await guard(w, ["run", "--confirm", "production", "--reason", "pg-1", "--", ...args], { env: { ...PROD, ...as("alice") } });
    expect(r.code, r.stderr).toBe(75);
    const id = requestIdIn(r.stderr);
    const list = (JSON.parse((await guardIn(w, ["requests", "--json"], { env: as("bob") })).stdout) as { requests: Array<{ id: string }> }).requests;
    expect(list.map((x) => x.id)).toContain(id);
    expect((await guardIn(w, ["approve", id, "--yes"], { env: as("bob") })).code).toBe(0);
    const run = await guard(w, ["run", "--confirm", "production", "--", ...args], { env: { ...PROD, ...as("alice") } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("purged --ticket=pg-1\n");
    expect((await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: { ...PROD, ...as("alice") } })).code).toBe(77);
    const verify = await guardIn(w, ["audit", "verify", "--json"], { env: as("bob") });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout).ok).toBe(true);
  });

  it("--wait: a waiting CI run wakes when the approval is stored, then runs", async () => {
    const args = ["./maintenance/purge-lb-state.sh", "--ticket=pg-wait"];
    const child = spawn(process.execPath, [BIN, "run", "--wait", "60s", "--reason", "pg-wait", "--confirm", "production", "--", ...args], {
      cwd: w.dir,
      env: { ...w.env, ...PROD, ...as("alice") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const done = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
    const deadline = Date.now() + 20_000;
    while (!/r-[a-z2-7]{20}/.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`no request id:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const id = requestIdIn(stderr);
    expect((await guardIn(w, ["approve", id, "--yes"], { env: as("bob") })).code).toBe(0);
    expect(await done).toBe(0);
    expect(stdout).toBe("purged --ticket=pg-wait\n");
  });

  it("A12: 50 processes race for one approval: exactly one executes", async () => {
    const marker = join(w.dir, "pg-race");
    await writeFile(join(w.dir, "maintenance", "purge-pg-race.sh"), `#!/bin/sh\necho ran >> ${marker}\n`, { mode: 0o755 });
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "race", "--", "./maintenance/purge-pg-race.sh"], { env: { ...PROD, ...as("alice") } });
    const id = requestIdIn(r.stderr);
    expect((await guardIn(w, ["approve", id, "--yes"], { env: as("bob") })).code).toBe(0);
    const results = await withManyConnections(() =>
      Promise.all(Array.from({ length: 50 }, () => guard(w, ["run", "--request", id, "--confirm", "production"], { env: { ...PROD, ...as("alice") } }))),
    );
    const codes = results.map((x) => x.code);
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    const odd = results.filter((x) => x.code !== 0 && x.code !== 77);
    expect(odd.map((x) => `${x.code}: ${x.stderr}`)).toEqual([]);
    expect(codes.filter((c) => c === 77)).toHaveLength(49);
    expect((await readFile(marker, "utf8")).trim().split("\n")).toEqual(["ran"]);
  }, 120_000);

  it("SW7: a junk audit row left by schema version 1 stops no run; S3 still holds; verify names the row (65)", async () => {
    // As version 1 let any guard_user write it (the constraint of version 2 is dropped to plant it).
    await sql(db.url, "ALTER TABLE guard_audit DROP CONSTRAINT guard_audit_row_is_an_event");
    await sql(db.url, "INSERT INTO guard_audit (seq, hash, body, time) VALUES (1000000, 'junk', 'junk', now())");
    await sql(db.url, "ALTER TABLE guard_audit ADD CONSTRAINT guard_audit_row_is_an_event CHECK (guard_audit_row_ok(seq, hash, body)) NOT VALID");
    const args = ["./maintenance/purge-lb-state.sh", "--ticket=pg-junk"];
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "pg-junk", "--", ...args], { env: { ...PROD, ...as("alice") } });
    expect(r.code, r.stderr).toBe(75);
    const id = requestIdIn(r.stderr);
    expect((await guardIn(w, ["approve", id, "--yes"], { env: as("bob") })).code).toBe(0);
    const run = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: { ...PROD, ...as("alice") } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("purged --ticket=pg-junk\n");
    // S3: the consumption record deleted (by someone who can disable the trigger) to replay: the log still says consumed.
    await sql(db.url, `ALTER TABLE guard_consumptions DISABLE TRIGGER guard_consumptions_append_only; DELETE FROM guard_consumptions WHERE request_id = '${id}'; ALTER TABLE guard_consumptions ENABLE TRIGGER guard_consumptions_append_only`);
    const replay = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: { ...PROD, ...as("alice") } });
    expect(replay.code, replay.stderr).toBe(65);
    expect(replay.stderr).toContain("already consumed");
    const verify = await guardIn(w, ["audit", "verify"], { env: as("bob") });
    expect(verify.code).toBe(65);
    expect(`${verify.stdout}${verify.stderr}`).toContain("audit event 1000000 ");
  });

  it("an unreachable database: 74 with the host in the message, and nothing runs", async () => {
    const marker = join(w.dir, "unreachable-ran");
    await writeFile(join(w.dir, "maintenance", "touch-pg.sh"), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const r = await guardIn(w, ["run", "--", "./maintenance/touch-pg.sh"], { env: { GUARD_STORE: "postgres://guard@127.0.0.1:1/guard" } });
    expect(r.code).toBe(74);
    expect(r.stderr).toContain("127.0.0.1:1");
    expect(existsSync(marker)).toBe(false);
  });
});
