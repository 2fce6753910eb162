/**
 * examples/psql for real (issue 14 part 3): the purge's preview is the same DELETE inside a transaction
 * that is rolled back, against a real PostgreSQL. The approver sees how many rows it would delete; nothing
 * is deleted until the approved run; a count that changed after approval refuses the run (recheck).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, ROOT, type World } from "./world.js";
import { ADMIN_URL, createTestDatabase, sql } from "../helpers/pg.js";

let w: World;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prod: Record<string, string>;

beforeAll(async () => {
  w = await makeWorld({ names: ["bob", "erin", "frank"], policy: () => "version: 1\n" });
  // The example's own policy and scripts, with this test's keys instead of the throwaway ones.
  await rm(join(w.dir, "policies"), { recursive: true });
  await cp(join(ROOT, "examples", "psql", "policies"), join(w.dir, "policies"), { recursive: true });
  await cp(join(ROOT, "examples", "psql", "scripts"), join(w.dir, "scripts"), { recursive: true });
  const p = (n: string): string => JSON.stringify(w.people[n]!.line);
  await writeFile(join(w.dir, "policies", "principals.yaml"), `version: 1\nprincipals:\n  bob: { keys: [${p("bob")}], groups: [dba] }\n  erin: { keys: [${p("erin")}], groups: [dba] }\n  frank: { keys: [${p("frank")}], groups: [developer] }\n`);
  // The year-end freeze would make this test depend on the date it runs.
  const rules = await readFile(join(w.dir, "policies", "rules.yaml"), "utf8");
  await writeFile(join(w.dir, "policies", "rules.yaml"), rules.slice(0, rules.indexOf("\nfreezes:")) + "\n");
  db = await createTestDatabase();
  await sql(db.url, "CREATE TABLE lb_state (id int PRIMARY KEY, updated_at timestamptz NOT NULL)");
  await sql(db.url, "INSERT INTO lb_state SELECT g, now() - interval '200 days' FROM generate_series(1, 3) g UNION ALL SELECT g, now() FROM generate_series(4, 5) g");
  // Named as production (prod-db.internal), reached on the local server.
  const admin = new URL(ADMIN_URL);
  prod = { DATABASE_URL: `postgresql://${admin.username || "postgres"}@prod-db.internal:${admin.port || "5432"}/${db.name}?hostaddr=${admin.hostname}` };
});
afterAll(async () => {
  await db?.drop();
  await w?.cleanup();
});

const rows = async (): Promise<number> => Number((await sql(db.url, "SELECT count(*)::int AS n FROM lb_state"))[0]!.n);
const PURGE = ["scripts/purge-state.sh", "--older-than", "90d"];

describe("examples/psql: the purge previewed in a rolled-back transaction", () => {
  it("the approver sees DELETE 3, nothing is deleted until the approved run, which deletes exactly those", async () => {
    const asked = await guard(w, ["run", "--confirm", "production", "--reason", "INC-7 stale state", "--", ...PURGE], { env: prod, as: "frank" });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    expect(await rows()).toBe(5);
    const shown = JSON.parse((await guard(w, ["show", id, "--json"], { as: "bob" })).stdout);
    expect(shown.request.previews[0]).toMatchObject({ rule: "purge-needs-a-dba", exitCode: 0 });
    expect(shown.request.previews[0].output).toBe("BEGIN\nDELETE 3\nROLLBACK\n");
    const approve = await guard(w, ["approve", id, "--yes"], { as: "bob" });
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stderr + approve.stdout).toMatch(/DELETE 3/);
    const ran = await guard(w, ["run", "--confirm", "production", "--", ...PURGE], { env: prod, as: "frank" });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe("DELETE 3\n");
    expect(await rows()).toBe(2);
  });

  it("recheck: more rows to delete after approval refuses the run (77) before it is consumed", async () => {
    await sql(db.url, "INSERT INTO lb_state VALUES (10, now() - interval '200 days')");
    const asked = await guard(w, ["run", "--confirm", "production", "--reason", "INC-8 one more", "--", ...PURGE], { env: prod, as: "frank" });
    const id = requestIdIn(asked.stderr);
    expect((await guard(w, ["approve", id, "--yes"], { as: "erin" })).code).toBe(0);
    await sql(db.url, "INSERT INTO lb_state SELECT g, now() - interval '200 days' FROM generate_series(11, 20) g");
    const refused = await guard(w, ["run", "--confirm", "production", "--", ...PURGE], { env: prod, as: "frank" });
    expect(refused.code, refused.stderr).toBe(77);
    expect(refused.stderr).toMatch(/approved: DELETE 1[\s\S]*now: +DELETE 11/);
    expect(await rows()).toBe(13);
  });
});
