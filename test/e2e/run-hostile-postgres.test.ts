/**
 * The PostgreSQL store edited by a writer with SQL access never makes a run happen, as a property (the
 * memory store's is test/commands/run-hostile.test.ts, the file store's test/e2e/run-hostile-file.test.ts).
 * A genuine history made by guard's whole command line (in process, guardIn, the world's GUARD_STORE a
 * test database) with real ssh-keygen keys — a request approved and run (consumed), one never approved,
 * one denied, one approved and not yet run — then one random edit of one row as a writer with SQL access
 * makes it: the `body` of a request, approval (a denial included), consumption or audit row edited
 * (test/helpers/store-edits.ts editText), or the row deleted. The table is drawn first, then a row of it,
 * so the few records are edited as often as the many audit rows; deleting the consumption (a replay) and
 * each approval or the denial are always among the cases. Whatever the edit:
 *
 * - `guard run --request` of the consumed, the unapproved and the denied request never exits 0, and the
 *   wrapped command never runs (its output never appears, no run.started is appended);
 * - the approved one may run or be refused, and `guard show`, `guard requests --all` and
 *   `guard audit verify` answer, all with documented codes — never an internal error (70);
 * - nothing any of them prints carries a control character.
 *
 * What the database itself refuses (each is a finding: these edits need the owner or a superuser):
 * - every UPDATE and DELETE of the four tables, by anyone, the owner and a superuser included: the
 *   append-only triggers (42501; checked below). The edits are made as a superuser with
 *   `session_replication_role = replica`, under which triggers do not fire; the table's owner can do the
 *   same with `ALTER TABLE … DISABLE TRIGGER USER`.
 * - an audit row's body that is not an event chaining on its own `hash` column — in practice every edit
 *   of an audit body: the CHECK constraint guard_audit_row_is_an_event (23514), which binds superusers
 *   too (checked below). Only the owner or a superuser gets past it, by dropping the constraint (and
 *   adding it back NOT VALID, which checks only new rows): the test does that, in the edit's
 *   transaction, so those edits are tested too.
 * - a body with a NUL character (a garble inserting U+0000): no text column holds one (22021), for any
 *   writer. Such cases are skipped (the memory and file stores test them).
 * Deleting an audit row needs only the triggers out of the way (no constraint refers to rows).
 *
 * Between cases the genuine rows are put back (one transaction with triggers off: delete every row, insert
 * the copy the test took into a schema of its own, reset the approvals' identity), and each case first
 * checks that the four tables hash to the genuine state, and in every eighth case that
 * `guard audit verify` passes.
 *
 * Found by this property: SECURITY.md S26 (a request's requester principal edited into an object made
 * `guard requests --all` fail with an internal error; the same on every store).
 */
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeWorld, type World } from "./world.js";
import { fourRequests, PROD, type HistoryIds } from "../helpers/hostile-history.js";
import { guardIn } from "../helpers/in-process.js";
import { createTestDatabase, refused } from "../helpers/pg.js";
import { editText, edits, expectAnswered, type Edit } from "../helpers/store-edits.js";


const TABLES = ["guard_requests", "guard_approvals", "guard_consumptions", "guard_audit"] as const;
type Table = (typeof TABLES)[number];
/** Each table's key column. */
const KEY: Record<Table, string> = { guard_requests: "id", guard_approvals: "ord", guard_consumptions: "request_id", guard_audit: "seq" };
const KIND: Record<Table, string> = { guard_requests: "request", guard_approvals: "approval", guard_consumptions: "consumption", guard_audit: "audit row" };

let w: World;
let db: { url: string; name: string; drop(): Promise<void> };
/** The test's own connection: a superuser's (the server's trust role), to the test database. */
let admin: pg.Client;
let genuineHash: string;
let ids: HistoryIds;
/** Every row a case may edit, by table: its key. */
const rows = {} as Record<Table, string[]>;
/** What the database refused, by table and SQLSTATE (printed at the end). */
const refusals = new Map<string, number>();

/** One hash over every row of the four tables, every column as the server prints it. */
async function storeHash(): Promise<string> {
  const parts = TABLES.map((t) => `(SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM ${t} r)`);
  const r = await admin.query<{ h: string }>(`SELECT md5(${parts.join(" || ")}) AS h`);
  return r.rows[0]!.h;
}

/** The genuine rows back, exactly: the same rows, columns and identity counter. */
async function restore(): Promise<void> {
  await admin.query(
    [
      "BEGIN",
      "SET LOCAL session_replication_role = replica",
      ...TABLES.map((t) => `DELETE FROM ${t}`),
      ...TABLES.map((t) => `INSERT INTO ${t} ${t === "guard_approvals" ? "OVERRIDING SYSTEM VALUE " : ""}SELECT * FROM genuine.${t}`),
      "SELECT setval(pg_get_serial_sequence('guard_approvals', 'ord'), (SELECT max(ord) FROM guard_approvals))",
      "COMMIT",
    ].join(";\n"),
  );
}

const runStarted = async (): Promise<number> =>
  Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM guard_audit WHERE body LIKE '%"type":"run.started"}'`)).rows[0]!.n);

beforeAll(async () => {
  db = await createTestDatabase();
  w = await makeWorld();
  w.env.GUARD_STORE = db.url;
  ids = await fourRequests(w);
  const v = await guardIn(w, ["audit", "verify"]);
  expect(v.code, v.stdout).toBe(0);

  admin = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  await admin.query(["CREATE SCHEMA genuine", ...TABLES.map((t) => `CREATE TABLE genuine.${t} AS SELECT * FROM ${t}`)].join(";\n"));
  genuineHash = await storeHash();
  for (const table of TABLES) rows[table] = (await admin.query<{ k: string }>(`SELECT ${KEY[table]}::text AS k FROM ${table} ORDER BY 1`)).rows.map((r) => r.k);
  // Four requests; the approvals of two and a denial; one consumption; the log.
  expect(rows.guard_requests.sort()).toEqual(Object.values(ids).sort());
  expect(rows.guard_approvals).toHaveLength(3);
  expect(rows.guard_consumptions).toEqual([ids.consumed]);
  expect(rows.guard_audit.length).toBeGreaterThan(8);
  // Not even a superuser changes a row while the triggers are on; a body that is not an event is refused
  // by the CHECK constraint even with them off.
  for (const table of TABLES) {
    await refused(db.url, `UPDATE ${table} SET body = body || ' '`, "42501");
    await refused(db.url, `DELETE FROM ${table}`, "42501");
  }
  await refused(db.url, "SET session_replication_role = replica; UPDATE guard_audit SET body = body || ' ' WHERE seq = 1", "23514");
  // As the history stands only the approved request runs (each refusal appends to the log: restored).
  for (const name of ["consumed", "unapproved", "denied"] as const) {
    const r = await guardIn(w, ["run", "--request", ids[name], "--confirm", "production"], { as: "alice", env: PROD });
    expect(r.code, `${name}: ${r.stderr}`).not.toBe(0);
  }
  expect(await storeHash()).not.toBe(genuineHash);
  await restore();
  expect(await storeHash()).toBe(genuineHash);
}, 60_000);

afterAll(async () => {
  if (refusals.size > 0) console.log("refused by the database:", Object.fromEntries(refusals));
  await admin?.end();
  await w?.cleanup();
  await db?.drop();
});

/**
 * Makes the edit on the row, as a superuser with the triggers off (and, for an audit body, as the owner
 * who drops the CHECK constraint for it); a description of it, or null when the database refuses it
 * whoever asks (or it changes nothing).
 */
async function apply(row: { table: Table; key: string }, e: Edit): Promise<string | null> {
  const { table, key } = row;
  const where = `${KEY[table]} = $1`;
  const what = `${KIND[table]} ${key}`;
  await admin.query("BEGIN; SET LOCAL session_replication_role = replica");
  try {
    if (e.op === "delete") {
      const r = await admin.query(`DELETE FROM ${table} WHERE ${where}`, [key]);
      expect(r.rowCount, what).toBe(1);
      await admin.query("COMMIT");
      return `${what} deleted`;
    }
    const before = (await admin.query<{ body: string }>(`SELECT body FROM ${table} WHERE ${where}`, [key])).rows[0]!.body;
    const after = editText(before, e);
    if (after === before) {
      await admin.query("ROLLBACK");
      return null;
    }
    const update = async (): Promise<void> => void (await admin.query(`UPDATE ${table} SET body = $2 WHERE ${where}`, [key, after]));
    await admin.query("SAVEPOINT edit");
    try {
      await update();
    } catch (err) {
      const code = (err as { code?: string }).code ?? "?";
      const tally = `${table} ${code}`;
      refusals.set(tally, (refusals.get(tally) ?? 0) + 1);
      await admin.query("ROLLBACK TO SAVEPOINT edit");
      if (table !== "guard_audit" || code !== "23514") {
        // A NUL in text (22021): no writer stores that.
        expect(code, `${what}: ${(err as Error).message}`).toBe("22021");
        await admin.query("ROLLBACK");
        return null;
      }
      // The owner's way past the CHECK: drop it, edit, add it back for new rows only.
      await admin.query("ALTER TABLE guard_audit DROP CONSTRAINT guard_audit_row_is_an_event");
      await update();
      await admin.query("ALTER TABLE guard_audit ADD CONSTRAINT guard_audit_row_is_an_event CHECK (guard_audit_row_ok(seq, hash, body)) NOT VALID");
    }
    await admin.query("COMMIT");
    return `${what}: ${JSON.stringify(e)}`;
  } catch (err) {
    await admin.query("ROLLBACK");
    throw err;
  }
}

async function answer(args: string[], as: string, what: string): Promise<{ code: number; stdout: string }> {
  const r = await guardIn(w, args, { as, env: PROD });
  expectAnswered(r, what);
  return r;
}

describe("an edited PostgreSQL store never makes a run happen (property)", () => {
  it("no edit runs a consumed, unapproved or denied request; every answer is a documented one, escaped", async () => {
    let n = 0;
    await fc.assert(
      // The table first, then a row of it: the few records as often as the many audit rows.
      fc.asyncProperty(fc.constantFrom(...TABLES), fc.nat(), edits, async (table, which, e) => {
        await restore();
        expect(await storeHash(), "the store is back to genuine").toBe(genuineHash);
        if (n++ % 8 === 0) {
          const v = await guardIn(w, ["audit", "verify"]);
          expect(v.code, `the genuine store verifies: ${v.stdout}`).toBe(0);
        }
        const what = await apply({ table, key: rows[table][which % rows[table].length]! }, e);
        if (what === null) return;
        for (const name of ["consumed", "unapproved", "denied"] as const) {
          const started = await runStarted();
          const r = await answer(["run", "--request", ids[name], "--confirm", "production"], "alice", `${what}; run ${name}`);
          expect(r.code, `${what}; run ${name}`).not.toBe(0);
          expect(r.stdout, `${what}; run ${name}`).not.toContain("purged");
          expect(await runStarted(), `${what}; run ${name}`).toBe(started);
        }
        await answer(["run", "--request", ids.approved, "--confirm", "production"], "alice", `${what}; run approved`);
        await answer(["show", ids.approved], "bob", `${what}; show`);
        await answer(["requests", "--all"], "bob", `${what}; requests --all`);
        await answer(["audit", "verify"], "bob", `${what}; audit verify`);
      }),
      {
        numRuns: 25,
        // Always: the replay by deleting the consumption, and each approval or the denial deleted.
        examples: [["guard_consumptions", 0, { op: "delete" }], ...[0, 1, 2].map((i): [Table, number, Edit] => ["guard_approvals", i, { op: "delete" }])],
      },
    );
  }, 180_000);
});
