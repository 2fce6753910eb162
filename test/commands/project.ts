/**
 * A project for in-process command tests: a policy directory, the maintenance scripts, and people
 * with real ssh-keygen keys (made once per file), as test/e2e/world.ts makes for the built CLI. The
 * environment points guard at the project's policy; the store is the runtime's memory store.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePerson, SCRIPTS, standardPolicy, type Person } from "../e2e/world.js";
import { testRuntime, type TestRuntime } from "../helpers/runtime.js";
import { openMemoryStore, type MemoryPlace } from "../../src/adapters/store/memory.js";
import type { AuditEvent } from "../../src/core/types.js";
import type { StdinKind } from "../../src/adapters/stdin.js";

export interface Project {
  dir: string;
  home: string;
  people: Record<string, Person>;
  env: Record<string, string>;
  /** A runtime in the project directory, as `who` (their key) with `env` on top; undefined removes a variable. */
  runtime(opts?: { as?: string; env?: Record<string, string | undefined>; now?: number; place?: MemoryPlace; cwd?: string; stdin?: StdinKind; realStore?: boolean }): TestRuntime;
  cleanup(): Promise<void>;
}

/** A fixed instant for the tests' clock: 2026-12-01T12:00:00Z. */
export const NOW = Date.parse("2026-12-01T12:00:00Z");

export async function makeProject(opts: { policy?: (people: Record<string, Person>) => string } = {}): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), "guard-inproc-"));
  await chmod(dir, 0o755);
  const home = join(dir, "home");
  await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  await mkdir(join(dir, "policies"), { mode: 0o755 });
  await mkdir(join(dir, "maintenance"), { mode: 0o755 });
  const people: Record<string, Person> = {};
  for (const n of ["alice", "bob", "carol", "dave"]) people[n] = await makePerson(home, n);
  for (const [rel, body] of Object.entries(SCRIPTS)) await writeFile(join(dir, rel), body, { mode: 0o755 });
  await writeFile(join(dir, "policies", "guard.yaml"), (opts.policy ?? standardPolicy)(people), { mode: 0o644 });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_STATE_HOME: join(home, ".local", "state"),
    XDG_CACHE_HOME: join(home, ".cache"),
    GUARD_POLICY: join(dir, "policies"),
    // Never opened: the runtime's openStore gives the memory store whatever the setting says.
    GUARD_STORE: `file:${join(dir, "store")}`,
    NO_COLOR: "1",
    LANG: "C.UTF-8",
  };
  return {
    dir,
    home,
    people,
    env,
    runtime: (o = {}) => {
      const e: Record<string, string> = { ...env };
      if (o.as) e.GUARD_KEY = people[o.as]!.key;
      for (const [k, v] of Object.entries(o.env ?? {})) {
        if (v === undefined) delete e[k];
        else e[k] = v;
      }
      return testRuntime({ env: e, cwd: o.cwd ?? dir, now: o.now ?? NOW, place: o.place, stdin: o.stdin, realStore: o.realStore });
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The audit log of a memory store's place, read at the project's clock. */
export async function auditOf(place: MemoryPlace): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of openMemoryStore(place, { now: () => NOW }).readAudit()) out.push(e);
  return out;
}
