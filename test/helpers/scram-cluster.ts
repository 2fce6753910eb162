/**
 * A second PostgreSQL 15 cluster of the test's own, with scram-sha-256 password authentication only (the
 * shared test server trusts every local connection, so it cannot show that a password matters). Started
 * as the postgres user, on a free loopback port, in `base`; stopped with stop(). The caller runs as root.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const PGBIN = "/usr/lib/postgresql/15/bin";

export const asPostgres = (cmd: string, args: string[]) => run("runuser", ["-u", "postgres", "--", join(PGBIN, cmd), ...args], { timeout: 60_000 });

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

export interface ScramCluster {
  port: number;
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startScramCluster(base: string): Promise<ScramCluster> {
  const uid = Number((await run("id", ["-u", "postgres"])).stdout);
  const gid = Number((await run("id", ["-g", "postgres"])).stdout);
  const data = join(base, "data");
  const sock = join(base, "sock");
  await mkdir(data, { mode: 0o700 });
  await mkdir(sock, { mode: 0o700 });
  await chown(data, uid, gid);
  await chown(sock, uid, gid);
  const adminPassword = randomBytes(18).toString("base64url");
  const pwfile = join(base, "pw");
  await writeFile(pwfile, `${adminPassword}\n`, { mode: 0o600 });
  await chown(pwfile, uid, gid);
  await asPostgres("initdb", ["-D", data, "-U", "postgres", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-instructions"]);
  await rm(pwfile);
  const port = await freePort();
  await asPostgres("pg_ctl", ["-D", data, "-l", join(sock, "server.log"), "-w", "-o", `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1`, "start"]);
  return {
    port,
    adminUrl: `postgres://postgres:${adminPassword}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "stop"]).catch(() => undefined);
    },
  };
}
