/**
 * Per-run PostgreSQL credentials end to end (issue 15), with the built CLI and a real PostgreSQL: the
 * child connects as its own role, which holds the grant and has VALID UNTIL; the role is gone after the
 * run; concurrent runs get distinct roles; an allowed run gets one too; the admin variable never reaches
 * the child; the password appears nowhere guard writes; an unreachable admin database refuses without
 * spending the approval; a SIGKILLed guard leaves a role that expires and the sweep removes.
 *
 * With the built CLI: the approved run that mints the role (the main flow), the two concurrent runs (two
 * guards at once) and the guard that is SIGKILLed. The rest runs in process (guardIn: the same command
 * line, the same minting and child, without a Node start each): the request and approval, the allowed
 * run, the unreachable and misconfigured admin URLs, the audit log, show, verify and the sweeps. The admin
 * URLs name host, port, user and database (or no host at all, refused before any connection), so the pg
 * driver's reading of this process's PG* variables (none set) changes nothing. After each test no
 * connection of guard's is left to the test database (an in-process call must end its admin client as
 * the ended process would).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BIN, guard, makeWorld, requestIdIn, standardPolicy, type World } from "./world.js";
import { createTestDatabase, randomName, sql } from "../helpers/pg.js";
import { expectNoGuardConnections } from "../helpers/pg-connections.js";
import { guardIn } from "../helpers/in-process.js";

const GRANT = randomName("guard_maint");
/** The requester's DATABASE_URL decides the target (and is bound); the child gets the per-run URL instead. */
const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let w: World;
let db: { url: string; name: string; drop(): Promise<void> };
let admin: Record<string, string>;

/** A script that reports who it is connected as, what it may read, and what it was given. */
const probe = (tag: string, extra = ""): string => `#!/bin/sh
out="$(dirname "$0")/../out-${tag}"
q() { psql "$DATABASE_URL" -XAtc "$1" 2>&1; }
{
  echo "user=$(q 'select current_user')"
  echo "widgets=$(q 'select count(*) from widgets')"
  echo "grant=$(q "select pg_has_role(current_user, '${GRANT}', 'USAGE')")"
  echo "valid_until_set=$(q 'select rolvaliduntil is not null from pg_roles where rolname = current_user')"
  echo "super=$(q 'select rolsuper from pg_roles where rolname = current_user')"
  echo "secrets=$(q 'select count(*) from secrets' | grep -c 'permission denied')"
  echo "admin=\${GUARD_PG_ADMIN_URL:-absent}"
  echo "url=$DATABASE_URL"
} > "$out"
${extra}
echo "done ${tag}"
`;

async function report(tag: string): Promise<Record<string, string>> {
  const text = await readFile(join(w.dir, `out-${tag}`), "utf8");
  return Object.fromEntries(text.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}
const passwordOf = (url: string): string => decodeURIComponent(new URL(url).password);
const roleExists = async (role: string): Promise<boolean> => (await sql(db.url, "SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).length > 0;

/** Every file under a directory, as text. */
async function allText(dir: string): Promise<string> {
  let out = "";
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out += await readFile(join(e.parentPath, e.name), "latin1");
  }
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await sql(db.url, `CREATE ROLE ${GRANT} NOLOGIN; CREATE TABLE widgets (id int); INSERT INTO widgets VALUES (1), (2), (3);
    CREATE TABLE secrets (s text); GRANT SELECT, INSERT ON widgets TO ${GRANT}; GRANT CREATE ON SCHEMA public TO ${GRANT}`);
  w = await makeWorld({
    policy: (people) =>
      standardPolicy(people).replace(
        "    aliases: [prod, prd, live]\n",
        `    aliases: [prod, prd, live]\n    credentials:\n      postgres:\n        admin: "env:GUARD_PG_ADMIN_URL"\n        grant: [${GRANT}]\n        export: DATABASE_URL\n        ttl: 5m\n`,
      ),
  });
  admin = { GUARD_PG_ADMIN_URL: db.url };
  for (const tag of ["approved", "allowed", "down", "a", "b", "killed"]) {
    const name = tag === "approved" || tag === "down" ? `purge-${tag}.sh` : `report-${tag}.sh`;
    const extra = tag === "a" || tag === "b" ? "sleep 1" : tag === "killed" ? 'echo $$ > "$(dirname "$0")/../killed.pid"; sleep 60' : "";
    await writeFile(join(w.dir, "maintenance", name), probe(tag, extra), { mode: 0o755 });
  }
});
afterEach(async () => {
  await expectNoGuardConnections(db.name);
});
afterAll(async () => {
  await w?.cleanup();
  await db?.drop();
  await sql(db.url.replace(`/${db.name}`, "/postgres"), `DROP ROLE IF EXISTS ${GRANT}`).catch(() => undefined);
});

describe("per-run PostgreSQL credentials", () => {
  it("an approved run: the child connects as its own role with the grant and VALID UNTIL; the role is dropped after; the password is nowhere", async () => {
    const args = ["./maintenance/purge-approved.sh"];
    const asked = await guardIn(w, ["run", "--confirm", "production", "--reason", "cred-1", "--", ...args], { as: "alice", env: { ...PROD, ...admin } });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    const run = await guard(w, ["run", "--json", "--confirm", "production", "--", ...args], { as: "alice", env: { ...PROD, ...admin } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("done approved\n");
    const r = await report("approved");
    expect(r.user).toMatch(/^guard_run_[0-9a-f]{32}$/);
    expect(r).toMatchObject({ widgets: "3", grant: "t", valid_until_set: "t", super: "f", secrets: "1", admin: "absent" });
    expect(new URL(r.url!).hostname).toBe("127.0.0.1");
    expect(new URL(r.url!).pathname).toBe(`/${db.name}`);
    const password = passwordOf(r.url!);
    expect(password.length).toBeGreaterThanOrEqual(40);
    expect(await roleExists(r.user!)).toBe(false);

    // The audit log says what was issued and that it was revoked; never the secret.
    const log = await guardIn(w, ["audit", "log", "--json"], { as: "bob" });
    const events = log.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const issued = events.find((e) => e.type === "credentials.issued" && e.data.role === r.user);
    expect(issued?.data).toMatchObject({ requestId: id, environment: "production", provider: "postgres", grant: [GRANT], exported: "DATABASE_URL" });
    expect(Date.parse(String(issued?.data.validUntil))).toBeGreaterThan(Date.now());
    const revoked = events.find((e) => e.type === "credentials.revoked" && e.data.role === r.user);
    expect(revoked?.data.revokedAt).toEqual(expect.any(String));
    // The run's events are ordered: issued before the approval is consumed, revoked after the child.
    const order = events.filter((e) => e.data.requestId === id).map((e) => e.type);
    expect(order.indexOf("credentials.issued")).toBeLessThan(order.indexOf("request.consumed"));
    expect(order.indexOf("credentials.revoked")).toBeGreaterThan(order.indexOf("run.started"));

    const shown = await guardIn(w, ["show", id, "--json"], { as: "bob" });
    for (const text of [run.stdout, run.stderr, log.stdout, log.stderr, shown.stdout, await allText(w.store)]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(r.url!);
    }
    // The admin URL's variable is not bound into the request either (not even by digest).
    expect(shown.stdout).not.toContain("GUARD_PG_ADMIN_URL");
    const verify = await guardIn(w, ["audit", "verify", "--json"], { as: "bob" });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it("an allowed run gets its own role too, dropped after", async () => {
    const run = await guardIn(w, ["run", "--", "./maintenance/report-allowed.sh"], { env: { ...PROD, ...admin } });
    expect(run.code, run.stderr).toBe(0);
    const r = await report("allowed");
    expect(r).toMatchObject({ widgets: "3", grant: "t", valid_until_set: "t", admin: "absent" });
    expect(r.user).toMatch(/^guard_run_/);
    expect(await roleExists(r.user!)).toBe(false);
    expect(run.stderr).not.toContain(passwordOf(r.url!));
  });

  it("concurrent runs get distinct roles", async () => {
    const [a, b] = await Promise.all(["a", "b"].map((t) => guard(w, ["run", "--", `./maintenance/report-${t}.sh`], { env: { ...PROD, ...admin } })));
    expect(a!.code, a!.stderr).toBe(0);
    expect(b!.code, b!.stderr).toBe(0);
    const [ra, rb] = [await report("a"), await report("b")];
    expect(ra.widgets).toBe("3");
    expect(rb.widgets).toBe("3");
    expect(ra.user).not.toBe(rb.user);
    expect(passwordOf(ra.url!)).not.toBe(passwordOf(rb.url!));
  });

  it("the admin database unreachable: nothing runs, the approval is not spent, and the same approval runs later", async () => {
    const args = ["./maintenance/purge-down.sh"];
    const asked = await guardIn(w, ["run", "--confirm", "production", "--reason", "down", "--", ...args], { as: "alice", env: { ...PROD, ...admin } });
    const id = requestIdIn(asked.stderr);
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    const down = { GUARD_PG_ADMIN_URL: "postgres://postgres@127.0.0.1:1/postgres" };
    const refused = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { ...PROD, ...down } });
    expect(refused.code, refused.stderr).toBe(74);
    expect(refused.stderr).toContain("unreachable");
    expect(refused.stderr).toContain("nothing was run");
    expect(existsSync(join(w.dir, "out-down"))).toBe(false);
    const unset = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { ...PROD, GUARD_PG_ADMIN_URL: undefined } });
    expect(unset.code, unset.stderr).toBe(78);
    expect(unset.stderr).toContain("GUARD_PG_ADMIN_URL");
    // A URL with no host (a Unix socket in the query) cannot carry the run's role: refused before anything is created.
    const socket = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { ...PROD, GUARD_PG_ADMIN_URL: "postgres:///postgres?host=/var/run/postgresql" } });
    expect(socket.code, socket.stderr).toBe(78);
    expect(socket.stderr).toContain("names no host");
    const later = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { ...PROD, ...admin } });
    expect(later.code, later.stderr).toBe(0);
    expect((await report("down")).widgets).toBe("3");
  });

  it("guard SIGKILLed mid-run: the role stays with VALID UNTIL; once expired, `guard credentials sweep` drops it", async () => {
    const child = spawn(process.execPath, [BIN, "run", "--", "./maintenance/report-killed.sh"], { cwd: w.dir, env: { ...w.env, ...PROD, ...admin }, stdio: "ignore" });
    const pidFile = join(w.dir, "killed.pid");
    const deadline = Date.now() + 20_000;
    while (!existsSync(pidFile) || (await stat(pidFile)).size === 0) {
      if (Date.now() > deadline) throw new Error("the script never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    process.kill(Number((await readFile(pidFile, "utf8")).trim()), "SIGKILL");
    const role = (await report("killed")).user!;
    expect(role).toMatch(/^guard_run_/);
    const rows = await sql(db.url, "SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", [role]);
    expect(rows).toHaveLength(1);
    const until = (rows[0]!.rolvaliduntil as Date).getTime();
    expect(until).toBeGreaterThan(Date.now());
    expect(until).toBeLessThan(Date.now() + 5 * 60_000 + 5_000);

    // Still valid: it might be a run in progress, so the sweep leaves it alone.
    const early = await guardIn(w, ["credentials", "sweep", "--json"], { env: admin });
    expect(early.code, early.stderr).toBe(0);
    expect(JSON.parse(early.stdout)[0].live).toContain(role);
    expect(await roleExists(role)).toBe(true);

    // Its VALID UNTIL passes (set into the past rather than waiting 5 minutes); the sweep drops it.
    await sql(db.url, `ALTER ROLE ${role} VALID UNTIL '2000-01-01'`);
    const swept = await guardIn(w, ["credentials", "sweep", "--json"], { env: admin });
    expect(swept.code, swept.stderr).toBe(0);
    expect(JSON.parse(swept.stdout)[0]).toMatchObject({ environment: "production", dropped: [role] });
    expect(await roleExists(role)).toBe(false);
    await rm(pidFile);
  });

  it("a grant role with superuser rights is refused (78), nothing runs", async () => {
    const bad = randomName("guard_super");
    await sql(db.url, `CREATE ROLE ${bad} SUPERUSER NOLOGIN`);
    try {
      const policy = await readFile(join(w.dir, "policies", "guard.yaml"), "utf8");
      const w2 = await makeWorld({ policy: () => policy.replace(`grant: [${GRANT}]`, `grant: [${bad}]`) });
      try {
        await writeFile(join(w2.dir, "maintenance", "report-super.sh"), "#!/bin/sh\necho ran\n", { mode: 0o755 });
        const r = await guardIn(w2, ["run", "--", "./maintenance/report-super.sh"], { env: { ...PROD, ...admin } });
        expect(r.code, r.stderr).toBe(78);
        expect(r.stdout).toBe("");
        expect(r.stderr).toContain("SUPERUSER");
      } finally {
        await w2.cleanup();
      }
    } finally {
      await sql(db.url, `DROP ROLE ${bad}`);
    }
  });
});
