/**
 * The bastion of docs/bastion.md as one scenario, with real Unix users made by this test and a
 * PostgreSQL cluster it starts with scram-sha-256 password authentication:
 *
 * - the requester (a fresh `gdev-…` account) cannot read the admin URL file (root's, 0600) and cannot
 *   log in to the database without a password it does not have;
 * - the requester asks, an approver (a fresh `gapp-…` account) approves, and the approved run goes
 *   through guard started as root "by sudo": the command runs as the requester's uid and connects as
 *   the per-run role, which is gone afterwards;
 * - without sudo's variables guard refuses (78), and another user cannot run the requester's approval
 *   with the requester's key.
 *
 * sudo is not installed on the test machine, so "sudo" is simulated as sudo does it: root, an environment
 * reset to a few variables, and SUDO_USER/SUDO_UID/SUDO_GID naming the invoker. The system
 * configuration is the real path /etc/access-guard/config.yaml, made visible to guard alone through a
 * private mount namespace (`unshare -m` + a bind mount), so that other tests on the machine never see it.
 *
 * Every guard here is therefore the built CLI started in that namespace: an in-process guard (guardIn)
 * would read the test process's /etc/access-guard, where this configuration is not (and must not be, for
 * the other tests' sake), and would be a process with the test's own environment rather than sudo's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startScramCluster, type ScramCluster } from "../helpers/scram-cluster.js";
import pg from "pg";
import { BIN, makeWorld, outputOf, requestIdIn, standardPolicy, type GuardResult, type World } from "./world.js";

const run = promisify(execFile);
const SYSTEM_DIR = "/etc/access-guard";
const PROD = "postgres://app@prod-db.internal/elb";
const tag = randomBytes(3).toString("hex");
const DEV = `gdev-${tag}`;
const APP = `gapp-${tag}`;
const madeUsers: string[] = [];
let madeSystemDir = false;
let base: string;
let port: number;
let adminUrl: string;
let w: World;
let cluster: ScramCluster | undefined;
const ids: Record<string, { uid: number; gid: number; key: string }> = {};


/** Run a program as `user` (runuser, as root), collecting its output and status. */
async function asUser(user: string, argv: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run("runuser", ["-u", user, "--", ...argv], { timeout: 30_000, cwd: "/" });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : -1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

/**
 * guard as `sudo guard …` run by `who` would start it: root, sudo's reset environment plus SUDO_*, in a
 * private mount namespace where /etc/access-guard is this test's system configuration. `who: null`:
 * root without sudo's variables.
 */
function sudoGuard(who: string | null, args: string[], extraEnv: Record<string, string> = {}): Promise<GuardResult> {
  const env: Record<string, string> = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", LANG: "C.UTF-8", NO_COLOR: "1", TERM: "dumb", ...extraEnv };
  if (who) Object.assign(env, { SUDO_USER: who, SUDO_UID: String(ids[who]!.uid), SUDO_GID: String(ids[who]!.gid), SUDO_COMMAND: `${BIN} ${args.join(" ")}` });
  const script = 'mount --bind "$1" /etc/access-guard && shift && exec "$@"';
  return outputOf(spawn("unshare", ["-m", "--propagation", "private", "--", "sh", "-c", script, "sh", join(base, "etc"), process.execPath, BIN, ...args], { cwd: w.dir, env, stdio: ["ignore", "pipe", "pipe"] }));
}

async function adminQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

async function addUser(name: string, keyOf: string): Promise<void> {
  await run("useradd", ["--create-home", "--shell", "/bin/sh", "--user-group", name]);
  madeUsers.push(name);
  const uid = Number((await run("id", ["-u", name])).stdout);
  const gid = Number((await run("id", ["-g", name])).stdout);
  const ssh = join("/home", name, ".ssh");
  await mkdir(ssh, { mode: 0o700 });
  const key = join(ssh, "id_ed25519");
  await copyFile(w.people[keyOf]!.key, key);
  await copyFile(w.people[keyOf]!.pub, `${key}.pub`);
  await chmod(key, 0o600);
  for (const p of [ssh, key, `${key}.pub`]) await chown(p, uid, gid);
  ids[name] = { uid, gid, key };
}

beforeAll(async () => {
  expect(userInfo().uid, "this test creates Unix users and a cluster, so it runs as root").toBe(0);
  base = await mkdtemp(join(tmpdir(), "guard-bastion-"));
  await chmod(base, 0o755);

  // --- the production database: scram-sha-256 only -------------------------------------------
  cluster = await startScramCluster(base);
  port = cluster.port;
  adminUrl = cluster.adminUrl;
  await adminQuery("CREATE ROLE elb_maintainer NOLOGIN; CREATE TABLE widgets (id int); INSERT INTO widgets VALUES (7); GRANT SELECT ON widgets TO elb_maintainer");

  // --- the bastion: admin URL root's alone, a pinned system configuration with run_as ----------
  const admin = join(base, "secrets", "pg-admin.url");
  await mkdir(join(base, "secrets"), { mode: 0o700 });
  await writeFile(admin, `${adminUrl}\n`, { mode: 0o600 });
  w = await makeWorld({
    policy: (people) =>
      standardPolicy(people).replace(
        "    aliases: [prod, prd, live]\n",
        `    aliases: [prod, prd, live]\n    credentials:\n      postgres:\n        admin: "file:${admin}"\n        grant: [elb_maintainer]\n        export: DATABASE_URL\n`,
      ),
  });
  await mkdir(join(base, "store"), { mode: 0o700 });
  await mkdir(join(base, "etc"), { mode: 0o755 });
  await writeFile(join(base, "etc", "config.yaml"), `policies: ${join(w.dir, "policies")}\nstore: file:${join(base, "store")}\nrun_as: invoking-user\n`, { mode: 0o644 });
  if (!existsSync(SYSTEM_DIR)) {
    await mkdir(SYSTEM_DIR, { mode: 0o755 });
    madeSystemDir = true;
  }
  // The approved script: who it runs as, what the database says, and whether the admin file is readable.
  await writeFile(
    join(w.dir, "maintenance", "purge-bastion.sh"),
    `#!/bin/sh
echo "uid=$(id -u) user=$USER home=$HOME"
echo "db=$(psql -w "$DATABASE_URL" -XAtc "select current_user || ' ' || count(*) from widgets" 2>&1)"
if cat ${admin} >/dev/null 2>&1; then echo "admin=readable"; else echo "admin=unreadable"; fi
`,
    { mode: 0o755 },
  );

  await addUser(DEV, "alice");
  await addUser(APP, "bob");
}, 180_000);

afterAll(async () => {
  for (const u of madeUsers) await run("userdel", ["-r", u]).catch(() => undefined);
  if (base) {
    await cluster?.stop();
    await rm(base, { recursive: true, force: true });
  }
  if (madeSystemDir) await rmdir(SYSTEM_DIR).catch(() => undefined);
  await w?.cleanup();
});

describe("bastion: the requester reaches production only through an approved guard run", () => {
  it("directly, the requester can read neither the admin URL nor log in to the database", async () => {
    const cat = await asUser(DEV, ["cat", join(base, "secrets", "pg-admin.url")]);
    expect(cat.code).not.toBe(0);
    expect(cat.out).toContain("Permission denied");
    for (const url of [`postgres://${DEV}@127.0.0.1:${port}/postgres`, `postgres://postgres@127.0.0.1:${port}/postgres`, `postgres://postgres:guess@127.0.0.1:${port}/postgres`]) {
      const r = await asUser(DEV, ["psql", "-w", url, "-XAtc", "select 1"]);
      expect(r.code, url).not.toBe(0);
      expect(r.out).toMatch(/password authentication failed|no password supplied/);
    }
  });

  it("request as the requester, approve as the approver, run through guard as root: the command runs as the requester with its own role, gone after", async () => {
    const cmd = ["./maintenance/purge-bastion.sh", "--region", "us-east-1"];
    const asked = await sudoGuard(DEV, ["run", "--key", ids[DEV]!.key, "--confirm", "production", "--reason", "INC-1 stale state", "--", ...cmd], { DATABASE_URL: PROD });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);

    // The requester cannot approve their own request, and the approver cannot run it with the requester's key.
    const self = await sudoGuard(DEV, ["approve", id, "--yes", "--key", ids[DEV]!.key]);
    expect(self.code, self.stderr).not.toBe(0);
    // The approver sees that the run gets a per-run role (never the admin source).
    const shown = await sudoGuard(APP, ["show", id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("credentials:  per-run PostgreSQL login role, member of elb_maintainer, in DATABASE_URL, valid 15m; dropped after the run");
    expect(shown.stdout + shown.stderr).not.toContain("pg-admin.url");
    const approved = await sudoGuard(APP, ["approve", id, "--yes", "--key", ids[APP]!.key]);
    expect(approved.code, approved.stderr).toBe(0);
    const stolen = await sudoGuard(APP, ["run", "--request", id, "--key", ids[DEV]!.key, "--confirm", "production"], { DATABASE_URL: PROD });
    expect(stolen.code, stolen.stderr).toBe(77);
    expect(stolen.stderr).toContain(`belongs to uid ${ids[DEV]!.uid}, not to you (${APP}`);
    // A public key copied into the approver's own file does not help: the run proves the private half.
    const pubCopy = join("/home", APP, "dev.pub");
    await copyFile(`${ids[DEV]!.key}.pub`, pubCopy);
    await chown(pubCopy, ids[APP]!.uid, ids[APP]!.gid);
    const copied = await sudoGuard(APP, ["run", "--request", id, "--key", pubCopy, "--confirm", "production"], { DATABASE_URL: PROD });
    expect(copied.code, copied.stderr).not.toBe(0);
    expect(copied.stdout).not.toContain("uid=");
    expect(copied.stderr).toMatch(/ssh-agent|SSH_AUTH_SOCK/);

    const ran = await sudoGuard(DEV, ["run", "--request", id, "--key", ids[DEV]!.key, "--confirm", "production"], { DATABASE_URL: PROD });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain(`uid=${ids[DEV]!.uid} user=${DEV} home=/home/${DEV}\n`);
    expect(ran.stdout).toMatch(/\ndb=guard_run_[0-9a-f]{32} 1\n/);
    expect(ran.stdout).toContain("admin=unreadable\n");
    expect(ran.stderr).not.toContain(new URL(adminUrl).password);
    // The role is gone, and the approval does not run twice.
    expect(await adminQuery("select rolname from pg_roles where rolname like 'guard_run_%'")).toEqual([]);
    const again = await sudoGuard(DEV, ["run", "--request", id, "--key", ids[DEV]!.key, "--confirm", "production"], { DATABASE_URL: PROD });
    expect(again.code, again.stderr).toBe(77);
  });

  it("run_as without sudo's variables refuses (78) and nothing is minted", async () => {
    const r = await sudoGuard(null, ["run", "--key", ids[DEV]!.key, "--", "./maintenance/report-lb-state.sh"], { DATABASE_URL: PROD });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toContain("was not started through sudo");
    expect(r.stdout).toBe("");
    expect(await adminQuery("select rolname from pg_roles where rolname like 'guard_run_%'")).toEqual([]);
  });
});
