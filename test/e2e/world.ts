/**
 * A throwaway world for end-to-end tests: a project directory with a policy, maintenance scripts, a
 * file store, and people with real ssh-keygen keys. `guard()` spawns the built CLI as a user would.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = join(ROOT, "bin", "guard.js");

export interface Person {
  name: string;
  key: string;
  pub: string;
  line: string;
}

export interface World {
  dir: string;
  home: string;
  store: string;
  people: Record<string, Person>;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface GuardResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Make a person with a real ed25519 key. */
export async function makePerson(dir: string, name: string): Promise<Person> {
  const key = join(dir, `${name}_ed25519`);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@example.com`, "-f", key]);
  const { readFile } = await import("node:fs/promises");
  const line = (await readFile(`${key}.pub`, "utf8")).trim();
  return { name, key, pub: `${key}.pub`, line };
}

export const SCRIPTS: Record<string, string> = {
  "maintenance/purge-lb-state.sh": '#!/bin/sh\necho "purged $*"\n',
  "maintenance/report-lb-state.sh": '#!/bin/sh\necho "report $*"\n',
  "maintenance/migrate-lb-schema.sh": '#!/bin/sh\necho "migrated $*"\n',
  "maintenance/exit-with.sh": '#!/bin/sh\nexit "$1"\n',
};

/**
 * The standard test policy: production (protected) and staging detected by DATABASE_URL / --env;
 * development by default. alice and bob are SREs, carol a DBA, dave a developer.
 */
export function standardPolicy(people: Record<string, Person>, extra = ""): string {
  const p = (n: string): string => JSON.stringify(people[n]!.line);
  return `version: 1
environments:
  production:
    protected: true
    aliases: [prod, prd, live]
    detect:
      - env: DATABASE_URL
        matches: "*prod-db.*"
      - arg: "--env"
  staging:
    aliases: [stg]
    detect:
      - env: DATABASE_URL
        matches: "*staging-db.*"
      - arg: "--env"
  development:
    aliases: [dev]
default_environment: development
principals:
  alice: { keys: [${p("alice")}], groups: [sre] }
  bob: { keys: [${p("bob")}], groups: [sre, dba] }
  carol: { keys: [${p("carol")}], groups: [dba] }
  dave: { keys: [${p("dave")}], groups: [developer] }
rules:
  - name: purge-needs-an-sre
    match: { environments: [production], commands: ["maintenance/purge-*.sh"] }
    require: { approvals: 1, from: [sre], reason: true, confirm: true, ttl: 30m }
  - name: reports-are-read-only
    match: { environments: [production], commands: ["maintenance/report-*.sh"] }
    allow: true
  - name: exits-are-fine
    match: { environments: [production], commands: ["maintenance/exit-with.sh"] }
    allow: true
  - name: never-migrate-by-hand
    match: { environments: [production], commands: ["maintenance/migrate-*.sh"], args: ["--drop*"] }
    deny: "dropping schema in production runs only from the release pipeline"
break_glass:
  environments: [production]
  groups: [sre]
${extra}`;
}

export async function makeWorld(opts: { policy?: (people: Record<string, Person>) => string; names?: string[] } = {}): Promise<World> {
  if (!existsSync(join(ROOT, "dist", "guard.cjs"))) throw new Error("dist/guard.cjs is missing: the build failed (see global-setup output)");
  const dir = await mkdtemp(join(tmpdir(), "guard-e2e-"));
  const home = join(dir, "home");
  await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  await mkdir(join(dir, "policies"), { mode: 0o755 });
  await mkdir(join(dir, "maintenance"), { mode: 0o755 });
  await chmod(dir, 0o755);
  const people: Record<string, Person> = {};
  for (const n of opts.names ?? ["alice", "bob", "carol", "dave"]) people[n] = await makePerson(home, n);
  for (const [rel, body] of Object.entries(SCRIPTS)) await writeFile(join(dir, rel), body, { mode: 0o755 });
  await writeFile(join(dir, "policies", "guard.yaml"), (opts.policy ?? standardPolicy)(people), { mode: 0o644 });
  const store = join(dir, "store");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_STATE_HOME: join(home, ".local", "state"),
    XDG_CACHE_HOME: join(home, ".cache"),
    GUARD_POLICY: join(dir, "policies"),
    GUARD_STORE: `file:${store}`,
    NO_COLOR: "1",
    LANG: "C.UTF-8",
  };
  return { dir, home, store, people, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The environment guard runs with in `world` as `as` (their key as GUARD_KEY), with `env` on top: a
 * variable set to undefined is removed.
 */
export function envOf(world: World, opts: { as?: string; env?: Record<string, string | undefined> }): Record<string, string> {
  const env: Record<string, string> = { ...world.env };
  if (opts.as) env.GUARD_KEY = world.people[opts.as]!.key;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Run the built CLI as `who` (their key), in the world's directory, with no terminal. `bin` runs another
 * copy of it; `node` puts options before it on node's command line (`-r hook`, `--jitless`).
 */
export async function guard(
  world: World,
  args: string[],
  opts: { as?: string; env?: Record<string, string | undefined>; cwd?: string; stdin?: "null" | "pipe"; input?: string; bin?: string; node?: string[] } = {},
): Promise<GuardResult> {
  const env = envOf(world, opts);
  const child = spawn(process.execPath, [...(opts.node ?? []), opts.bin ?? BIN, ...args], {
    cwd: opts.cwd ?? world.dir,
    env,
    stdio: [opts.input !== undefined || opts.stdin === "pipe" ? "pipe" : "ignore", "pipe", "pipe"],
  });
  const output = outputOf(child);
  if (child.stdin) child.stdin.end(opts.input ?? "");
  return output;
}

/** A spawned process's exit and everything it wrote (stdout and stderr piped). */
export function outputOf(child: ChildProcess): Promise<GuardResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
}

/** The request id printed in guard's output. */
export function requestIdIn(text: string): string {
  const m = /\br-[a-z2-7]{20}\b/.exec(text);
  if (!m) throw new Error(`no request id in:\n${text}`);
  return m[0];
}

/** Separate homes and state directories for `names`, so that a shared database is all they share. */
export async function makeHomes(world: World, names: readonly string[]): Promise<void> {
  for (const who of names) await mkdir(join(world.dir, `home-${who}`), { recursive: true });
}

/** The environment of `who` in their own home (see makeHomes): HOME, state directory and key. */
export function homeOf(world: World, who: string): Record<string, string> {
  return { HOME: join(world.dir, `home-${who}`), XDG_STATE_HOME: join(world.dir, `home-${who}`, "state"), GUARD_KEY: world.people[who]!.key };
}
