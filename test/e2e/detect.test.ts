/**
 * Detection end to end with the built CLI (SECURITY E9, E18–E21): a value nobody listed is refused instead
 * of defaulting, values are read as the real clients read them, wrappers are judged by what really runs —
 * each a run that must not happen, or a wrapper resolved on the real file system. Decisions that need no
 * real process (the default environment, prod%2Ddb, psql -h, kubectl under a production context) are
 * rows of test/commands/check.test.ts, in process.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, standardPolicy, type World } from "./world.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld({
    policy: (people) =>
      standardPolicy(people)
        .replace('        matches: "*prod-db.*"\n', '        matches: "*prod-db.*"\n      - env: PGHOST\n        matches: "prod-db.*"\n      - kube_context: "prod-*"\n')
        .replace('        matches: "*staging-db.*"\n', '        matches: "*staging-db.*"\n      - env: PGHOST\n        matches: "stg-db.*"\n      - kube_context: "staging-*"\n'),
  });
  await mkdir(join(w.dir, "bin"));
  await symlink("/bin/bash", join(w.dir, "bin", "tool"));
  await mkdir(join(w.home, ".kube"), { recursive: true });
  await writeFile(join(w.home, ".kube", "config"), "apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\n");
});
afterAll(async () => w.cleanup());

describe("a set value that matches nothing is undetermined, never the default (E18)", () => {
  it("DATABASE_URL with a host nobody listed: the purge is refused (77) naming DATABASE_URL, and nothing runs", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/purge-lb-state.sh", "--all"], {
      as: "dave",
      env: { DATABASE_URL: "postgres://app:hunter2@orders-prd-db.internal/orders" },
    });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stdout).not.toContain("purged");
    expect(r.stderr).toContain("DATABASE_URL");
    expect(r.stderr).toContain("orders-prd-db.internal");
    expect(r.stderr).toContain("no environment's detector recognises it");
    expect(r.stderr + r.stdout).not.toContain("hunter2");
  });
});

describe("values read as the clients read them (E19)", () => {
  it("psql with a conninfo argument for production while PGHOST says staging: refused with both shown, psql never runs", async () => {
    const r = await guard(w, ["run", "--", "psql", "host=prod-db.internal dbname=orders", "-XAtc", "select 1"], {
      as: "dave",
      env: { PGHOST: "stg-db.internal", HOME: join(w.dir, "nohome") },
    });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/conflicting target: .*(production.*staging|staging.*production)/);
  });
});

describe("wrappers judged by what really runs (E9)", () => {
  it("a symlink to bash with -c is refused, even when the string sets its own DATABASE_URL", async () => {
    const r = await guard(w, ["run", "--", "./bin/tool", "-c", "DATABASE_URL=postgres://prod-db.internal/x ./maintenance/purge-lb-state.sh"], {
      as: "dave",
      env: { HOME: join(w.dir, "nohome") },
    });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain("tool is bash");
    expect(r.stdout).not.toContain("purged");
  });

  it("the dynamic loader running a shell is refused", async () => {
    const r = await guard(w, ["check", "--", "/lib64/ld-linux-x86-64.so.2", "/bin/sh", "-c", "true"], { as: "dave", env: { HOME: join(w.dir, "nohome") } });
    expect(r.code, r.stderr + r.stdout).toBe(77);
    expect(r.stdout + r.stderr).toContain("dynamic loader");
  });
});
