// A throwaway PostgreSQL database for the bench, created and dropped with psql (trust auth on
// 127.0.0.1:5432, as the test suite uses). The name is random, so concurrent benches never collide.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);
const PSQL = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc"];

export async function createBenchDatabase() {
  const name = `guard_bench_${randomBytes(6).toString("hex")}`;
  try {
    await run("psql", [...PSQL, `CREATE DATABASE ${name}`], { timeout: 15_000 });
  } catch (err) {
    throw new Error(`cannot create the PostgreSQL database ${name} on 127.0.0.1:5432 (${err.stderr?.trim() || err.message}); is the server up, with trust auth for postgres?`, { cause: err });
  }
  return { name, url: `postgres://postgres@127.0.0.1:5432/${name}` };
}

/** WITH (FORCE) ends any connection a killed guard left behind (PostgreSQL ≥ 13). */
export async function dropBenchDatabase(name) {
  await run("psql", [...PSQL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { timeout: 15_000 });
}
