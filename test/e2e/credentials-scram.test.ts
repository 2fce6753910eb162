/**
 * The per-run password really is what lets the child in: a second PostgreSQL cluster, started by this
 * test with scram-sha-256 password authentication (the shared test server trusts every local
 * connection, so it cannot show that). The minted URL connects; the same URL with a wrong or no
 * password does not; after the run it connects no more. The admin URL is read from a file (`file:`),
 * which is refused while every user of the machine can read it, or when it is not a regular file (a FIFO
 * there must refuse at once, not hang; that call runs in process, guardIn).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { guard, makeWorld, standardPolicy, type World } from "./world.js";
import { startScramCluster, type ScramCluster } from "../helpers/scram-cluster.js";
import { guardIn } from "../helpers/in-process.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let base: string;
let port: number;
let adminUrl: string;
let w: World;
let cluster: ScramCluster | undefined;


async function connects(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await c.connect();
    return String((await c.query("select current_user AS u")).rows[0].u);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  expect(userInfo().uid, "this test starts a cluster as the postgres user, so it runs as root").toBe(0);
  base = await mkdtemp(join(tmpdir(), "guard-scram-"));
  await chmod(base, 0o755);
  cluster = await startScramCluster(base);
  port = cluster.port;
  adminUrl = cluster.adminUrl;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query("CREATE ROLE elb_maintainer NOLOGIN; CREATE TABLE widgets (id int); INSERT INTO widgets VALUES (7); GRANT SELECT ON widgets TO elb_maintainer");
  await c.end();

  w = await makeWorld({
    policy: (people) =>
      standardPolicy(people).replace(
        "    aliases: [prod, prd, live]\n",
        `    aliases: [prod, prd, live]\n    credentials:\n      postgres:\n        admin: "file:${join(base, "admin.url")}"\n        grant: [elb_maintainer]\n        export: DATABASE_URL\n`,
      ),
  });
  await writeFile(
    join(w.dir, "maintenance", "report-scram.sh"),
    `#!/bin/sh
out="$(dirname "$0")/../scram-out"
{
  echo "good=$(psql -w "$DATABASE_URL" -XAtc "select current_user || ' ' || count(*) from widgets" 2>&1)"
  echo "wrong=$(psql -w "$(echo "$DATABASE_URL" | sed 's/:[^:@/]*@/:wrong-password@/')" -XAtc 'select 1' 2>&1)"
  echo "none=$(psql -w "$(echo "$DATABASE_URL" | sed 's/:[^:@/]*@/@/')" -XAtc 'select 1' 2>&1)"
  echo "url=$DATABASE_URL"
} > "$out"
`,
    { mode: 0o755 },
  );
}, 120_000);

afterAll(async () => {
  if (base) {
    await cluster?.stop();
    await rm(base, { recursive: true, force: true });
  }
  await w?.cleanup();
});

describe("per-run credentials on a server that checks passwords (scram-sha-256)", () => {
  it("an admin URL file every user can read is refused (78), nothing runs", async () => {
    await writeFile(join(base, "admin.url"), `${adminUrl}\n`, { mode: 0o644 });
    await chmod(join(base, "admin.url"), 0o644);
    const r = await guard(w, ["run", "--", "./maintenance/report-scram.sh"], { env: PROD });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr).toContain("readable by every user");
    await rm(join(w.dir, "scram-out"), { force: true });
  });

  it("an admin URL file replaced by a FIFO nobody writes is refused at once (78), never a hang; nothing runs", async () => {
    const file = join(base, "admin.url");
    const saved = await readFile(file, "utf8");
    await rm(file);
    execFileSync("mkfifo", ["-m", "600", file]);
    try {
      const r = await guardIn(w, ["run", "--", "./maintenance/report-scram.sh"], { env: PROD });
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toContain("not a regular file (a FIFO or pipe)");
      expect(existsSync(join(w.dir, "scram-out"))).toBe(false);
    } finally {
      await rm(file);
      await writeFile(file, saved, { mode: 0o600 });
    }
  });

  it("the minted URL connects with its password; a wrong or missing password does not; after the run it is gone", async () => {
    await chmod(join(base, "admin.url"), 0o600);
    const r = await guard(w, ["run", "--", "./maintenance/report-scram.sh"], { env: PROD });
    expect(r.code, r.stderr).toBe(0);
    const out = Object.fromEntries((await readFile(join(w.dir, "scram-out"), "utf8")).trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(out.good).toMatch(/^guard_run_[0-9a-f]{32} 1$/);
    expect(out.wrong).toContain("password authentication failed");
    expect(out.none).toMatch(/password|no password supplied/);
    const url = out.url!;
    expect(new URL(url).port).toBe(String(port));
    // After the run the role is gone: the URL the child had connects no more.
    expect(await connects(url)).toMatch(/does not exist|password authentication failed/);
    expect(r.stderr).not.toContain(new URL(url).password);
    expect(r.stderr).not.toContain(new URL(adminUrl).password);
  });
});
