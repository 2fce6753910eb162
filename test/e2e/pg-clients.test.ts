/**
 * Issue 19: the PostgreSQL clients of this machine through `guard run`. On Debian and Ubuntu psql,
 * pg_dump and createdb are symbolic links to pg_wrapper, which picks the client by the name it was
 * started by: guard runs them through the link, binds the link chain, and refuses chains that others
 * can change. Real clients, a real PostgreSQL (a database of this test's own), real keys.
 *
 * guard's store here is a file store: guard itself opens no PostgreSQL connection, and the PG* variables
 * are guard's environment (detection, and what the wrapped client is given), never the pg driver's. So
 * most calls run in process (guardIn: the same command line, the client spawned by guard as from the
 * built CLI, without a Node start per call). With the built CLI: `createdb` through its link, and the
 * approved psql that runs once in production, so the file still proves the real CLI runs the clients.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, copyFile, cp, lchown, lstat, mkdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, ROOT, standardPolicy, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { ADMIN_URL, randomName, sql, urlFor } from "../helpers/pg.js";

const WRAPPER = "/usr/share/postgresql-common/pg_wrapper";
const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const admin = new URL(ADMIN_URL);

let w: World;
let db: string;
/** libpq's settings for this test's own database on the local server. */
let pgEnv: Record<string, string>;

beforeAll(async () => {
  // This test is about the Debian layout: fail loudly, not silently pass, where it is missing.
  expect((await lstat("/usr/bin/psql")).isSymbolicLink()).toBe(true);
  expect(await readlink("/usr/bin/psql")).toMatch(/pg_wrapper$/);
  w = await makeWorld({
    policy: (people) =>
      standardPolicy(people).replace(
        "rules:\n",
        `rules:\n  - name: psql-in-production-needs-a-dba\n    match: { environments: [production], commands: ["psql"] }\n    require: { approvals: 1, from: [dba], ttl: 30m }\n`,
      ),
  });
  db = randomName("guard_pgwrap");
  pgEnv = { PGHOST: admin.hostname, PGPORT: admin.port || "5432", PGUSER: decodeURIComponent(admin.username) || "postgres", PGDATABASE: db };
});
afterAll(async () => {
  await sql(ADMIN_URL, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await w.cleanup();
});

describe("the real PostgreSQL clients run through their pg_wrapper links", () => {
  it("createdb, psql and pg_dump: each does its own job against the test's database", async () => {
    const created = await guard(w, ["run", "--", "createdb", db], { env: pgEnv });
    expect(created.code, created.stderr).toBe(0);
    expect(await sql(ADMIN_URL, "SELECT 1 AS one FROM pg_database WHERE datname = $1", [db])).toEqual([{ one: 1 }]);

    const psql = await guardIn(w, ["run", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", "CREATE TABLE lb_state (id int, updated_at timestamptz)", "-c", "INSERT INTO lb_state VALUES (1, now()) RETURNING id"], { env: pgEnv });
    expect(psql.code, psql.stderr).toBe(0);
    expect(psql.stdout).toBe("1\n");

    const dump = await guardIn(w, ["run", "--", "pg_dump", "--schema-only", db], { env: pgEnv });
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toMatch(/CREATE TABLE public\.lb_state/);

    const version = await guardIn(w, ["run", "--", "psql", "--version"], { env: pgEnv });
    expect([version.code, version.stdout]).toEqual([0, expect.stringMatching(/^psql \(PostgreSQL\) \d+/)]);
  });

  it("`guard check` shows the link the program runs as", async () => {
    const r = await guardIn(w, ["check", "--", "psql", "--version"], { env: pgEnv });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/program: +\/usr\/share\/postgresql-common\/pg_wrapper/);
    expect(r.stdout).toMatch(/run as: +\/\S*psql \(.*psql → \.\.\/share\/postgresql-common\/pg_wrapper\)/);
  });

  it("a failing client's status is guard's status, never 0", async () => {
    const bad = await guardIn(w, ["run", "--", "psql", "-v", "ON_ERROR_STOP=1", "-c", "SELECT * FROM no_such_table"], { env: pgEnv });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no_such_table/);
    expect(bad.stderr).toMatch(/status=ran exit=1/);
  });

  it("the wrapper itself failing (a link name it knows no client for) is a failure, not 0", async () => {
    const bin = join(w.dir, "wrapped");
    await mkdir(bin, { recursive: true, mode: 0o755 });
    await symlink(WRAPPER, join(bin, "pg_nosuchclient"));
    const r = await guardIn(w, ["run", "--", "pg_nosuchclient", "--version"], { env: { ...pgEnv, PATH: `${bin}:${w.env.PATH}` } });
    // pg_wrapper started as pg_nosuchclient finds no client of that name and exits 1.
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/install at least one postgresql-client/);
    expect(r.stderr).toMatch(/status=ran exit=1/);
  });

  it("a link whose exec fails in the kernel (its #! interpreter is missing) is 127, never 0", async () => {
    const dir = join(w.dir, "broken");
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, "tool-real"), "#!/nonexistent/interpreter\necho never\n", { mode: 0o755 });
    await symlink("tool-real", join(dir, "tool"));
    const r = await guardIn(w, ["run", "--", join(dir, "tool")]);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/command not found/);
    expect(r.stdout).toBe("");
  });
});

describe("an approved psql in production, through its link", () => {
  /** PATH starts with a directory of the world's own, whose `psql` the tests point where they like. */
  let bin: string;
  let path: string;
  beforeAll(async () => {
    bin = join(w.dir, "bin");
    await mkdir(bin, { recursive: true, mode: 0o755 });
    path = `${bin}:${w.env.PATH}`;
  });
  const env = (): Record<string, string> => ({ ...pgEnv, ...PROD, PATH: path });
  const pointPsqlAt = async (target: string): Promise<void> => {
    await rm(join(bin, "psql"), { force: true });
    await symlink(target, join(bin, "psql"));
  };

  async function requestAndApprove(sqlText: string): Promise<string> {
    const r = await guardIn(w, ["run", "--", "psql", "-qAt", "-c", sqlText], { env: env(), as: "alice" });
    expect(r.code, r.stderr).toBe(75);
    const id = requestIdIn(r.stderr);
    const show = await guardIn(w, ["show", id], { as: "carol" });
    // The approver sees which link the wrapper runs as, not only the wrapper.
    expect(show.stdout).toMatch(new RegExp(`run as: +${bin}/psql \\(${bin}/psql → /usr/bin/psql, /usr/bin/psql → \\.\\./share/postgresql-common/pg_wrapper\\)`));
    const a = await guardIn(w, ["approve", id, "--yes"], { as: "carol" });
    expect(a.code, a.stderr).toBe(0);
    return id;
  }

  it("request → a DBA approves → psql runs once as psql → a replay is refused", async () => {
    await pointPsqlAt("/usr/bin/psql");
    const id = await requestAndApprove("SELECT 'approved ' || count(*) FROM lb_state");
    const run = await guard(w, ["run", "--", "psql", "-qAt", "-c", "SELECT 'approved ' || count(*) FROM lb_state"], { env: env(), as: "alice" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("approved 1\n");
    const again = await guardIn(w, ["run", "--request", id], { env: env(), as: "alice" });
    expect(again.code).toBe(77);
  });

  it.each([
    ["at a copy of pg_wrapper (same content, another file)", "copy"],
    ["straight at pg_wrapper (same file, another chain)", WRAPPER],
  ])("a link pointed %s after approval is refused (77) and the approval is not used", async (_what, target) => {
    await pointPsqlAt("/usr/bin/psql");
    const id = await requestAndApprove(`SELECT 'relinked ${target.length}'`);
    if (target === "copy") {
      await mkdir(join(w.dir, "alt"), { recursive: true, mode: 0o755 });
      await copyFile(WRAPPER, join(w.dir, "alt", "pg_wrapper"));
      await chmod(join(w.dir, "alt", "pg_wrapper"), 0o755);
      await pointPsqlAt(join(w.dir, "alt", "pg_wrapper"));
    } else {
      await pointPsqlAt(target);
    }
    try {
      const r = await guardIn(w, ["run", "--request", id], { env: env(), as: "alice" });
      expect(r.code).toBe(77);
      expect(r.stderr).toMatch(/program\.via/);
      expect(r.stdout).toBe("");
      const show = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "alice" })).stdout);
      expect(show.status).toBe("approved");
    } finally {
      await pointPsqlAt("/usr/bin/psql");
    }
  });
});

describe("links that someone else can change are refused with the reason", () => {
  it("a link in a directory everyone can write", async () => {
    const open = join(w.dir, "open");
    await mkdir(open, { recursive: true });
    await chmod(open, 0o777);
    await symlink("/usr/bin/psql", join(open, "psql"));
    const r = await guardIn(w, ["run", "--", "psql", "--version"], { env: { ...pgEnv, PATH: `${open}:${w.env.PATH}` } });
    expect(r.code).toBe(77);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`directory ${open} is writable by its group and everyone (mode 0777)`);
    expect(r.stderr).toMatch(/owned by root or you and writable by nobody else/);
    const events = (await readFile(join(w.store, "audit", "events.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { type: string; data: { argv?: string[]; reasons?: string[] } });
    const last = events.at(-1)!;
    expect(last.type).toBe("run.refused");
    expect(last.data.argv).toEqual(["psql", "--version"]);
    expect(last.data.reasons?.[0]).toContain(`directory ${open} is writable`);
  });

  it.runIf(process.getuid?.() === 0)("a link owned by another user (nobody), even in a directory only root can write", async () => {
    const dir = join(w.dir, "foreign");
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await symlink("/usr/bin/psql", join(dir, "psql"));
    await lchown(join(dir, "psql"), 65534, 65534);
    const r = await guardIn(w, ["run", "--", join(dir, "psql"), "--version"], { env: pgEnv });
    expect(r.code).toBe(77);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`symbolic link ${dir}/psql is owned by uid 65534, not by root or you`);
  });
});

// The examples/psql project as shipped (its policy, its scripts), with its throwaway principals replaced
// by real keys: a purge in "production" needs a DBA's approval, and then really deletes the old rows.
describe("examples/psql end to end", () => {
  it("purge-state.sh: request → a DBA approves → runs once against the database; vacuum-state.sh runs without approval", async () => {
    const project = join(w.dir, "examples-psql");
    await cp(join(ROOT, "examples", "psql"), project, { recursive: true });
    const people = w.people;
    await writeFile(
      join(project, "policies", "principals.yaml"),
      `version: 1\nprincipals:\n  erin: { keys: [${JSON.stringify(people.alice!.line)}], groups: [dba] }\n  bob: { keys: [${JSON.stringify(people.bob!.line)}], groups: [dba] }\n  frank: { keys: [${JSON.stringify(people.dave!.line)}], groups: [developer] }\n`,
    );
    const rows = urlFor(db);
    await sql(rows, "CREATE TABLE IF NOT EXISTS lb_state (id int, updated_at timestamptz); DELETE FROM lb_state; INSERT INTO lb_state VALUES (10, now() - interval '200 days'), (11, now())");
    // The policy knows production by a host called prod-db…; libpq connects to hostaddr, the local server.
    const conninfo = `host=prod-db.internal hostaddr=127.0.0.1 port=${pgEnv.PGPORT} user=${pgEnv.PGUSER} dbname=${db}`;
    // Only what the example's own configuration decides: no GUARD_POLICY, and no PG* variables.
    const env = { GUARD_POLICY: undefined, PGHOST: undefined, PGDATABASE: undefined };
    const purge = ["scripts/purge-state.sh", "--older-than", "90d", conninfo];

    const asked = await guardIn(w, ["run", "--confirm", "production", "--reason", "INC-19 old load-balancer state", "--", ...purge], { env, as: "alice", cwd: project });
    expect(asked.code, asked.stderr).toBe(75);
    expect(asked.stderr).toMatch(/needs 1 approval from dba; eligible: bob/);
    const id = requestIdIn(asked.stderr);
    const mine = await guardIn(w, ["approve", id, "--yes"], { env, as: "alice", cwd: project });
    expect(mine.code).toBe(77);
    const approved = await guardIn(w, ["approve", id, "--yes"], { env, as: "bob", cwd: project });
    expect(approved.code, approved.stderr).toBe(0);

    const ran = await guardIn(w, ["run", "--confirm", "production", "--", ...purge], { env, as: "alice", cwd: project });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe("DELETE 1\n");
    expect(await sql(rows, "SELECT id FROM lb_state ORDER BY id")).toEqual([{ id: 11 }]);
    const replay = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env, as: "alice", cwd: project });
    expect(replay.code).toBe(77);

    const url = `postgresql://${pgEnv.PGUSER}@prod-db.internal:${pgEnv.PGPORT}/${db}?hostaddr=127.0.0.1`;
    const vacuum = await guardIn(w, ["run", "--", "./scripts/vacuum-state.sh"], { env: { ...env, DATABASE_URL: url }, cwd: project });
    // The example's policy freezes production over the year end; the routine vacuum stops then too.
    const now = Date.now();
    const frozen = now >= Date.parse("2026-12-23T00:00:00Z") && now < Date.parse("2027-01-02T00:00:00Z");
    if (frozen) {
      expect(vacuum.code).toBe(77);
      expect(vacuum.stderr).toMatch(/freeze/);
    } else {
      expect(vacuum.code, vacuum.stderr).toBe(0);
      expect(vacuum.stderr).toMatch(/vacuuming "[^"]*lb_state"/i);
    }
  });
});
