/**
 * The smaller commands end to end: init, whoami, policy lint/test/schema, store migrate, help.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makePerson, makeWorld, ROOT, type World } from "./world.js";
import { createTestDatabase } from "../helpers/pg.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

describe("guard init", () => {
  // What init scaffolds, its lint and test, its next step, whoami after it and never overwriting are
  // test/commands/whoami-init.test.ts, in process; here the built CLI scaffolds a project and really runs
  // the scaffolded script.
  it("scaffolds a config, a policy with the user's key and a script that `guard run` runs", async () => {
    const project = join(w.dir, "newproject");
    await mkdir(join(project, "scripts"), { recursive: true });
    const me = await makePerson(w.home, "id_ed25519");
    await copyFile(me.key, join(w.home, ".ssh", "id_ed25519"));
    await copyFile(me.pub, join(w.home, ".ssh", "id_ed25519.pub"));
    const env = { GUARD_POLICY: undefined, GUARD_KEY: undefined };
    const first = await guard(w, ["init"], { cwd: project, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/created\s+guard\.config\.yaml/);
    expect(first.stderr).toMatch(/you are principal `id_ed25519` \(from your key's comment\)/);
    expect(await readFile(join(project, "policies", "guard.yaml"), "utf8")).toContain(me.line.split(" ").slice(0, 2).join(" "));
    const run = await guard(w, ["run", "--", "./scripts/cleanup.sh"], { cwd: project, env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("cleanup: nothing to do (an example script)\n");
  });
});

describe("guard whoami", () => {
  it("names the principal and groups of the key, and the mode", async () => {
    const r = await guard(w, ["whoami", "--json"], { as: "bob" });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ principal: "bob", groups: ["sre", "dba"], mode: "guardrail" });
    expect(out.key.fingerprint).toMatch(/^SHA256:/);
    const text = await guard(w, ["whoami"], { as: "bob" });
    expect(text.stdout).toMatch(/guardrail/);
  });

  it("says so when the key maps to no principal", async () => {
    const stranger = await makePerson(w.home, "stranger");
    const out = JSON.parse((await guard(w, ["whoami", "--json"], { env: { GUARD_KEY: stranger.key } })).stdout);
    expect(out.principal).toBeNull();
  });
});

describe("guard policy", () => {
  it("lint and test pass on the repository's example policy", async () => {
    const env = { GUARD_POLICY: join(ROOT, "policies") };
    expect((await guard(w, ["policy", "lint"], { env })).code).toBe(0);
    const t = await guard(w, ["policy", "test"], { env });
    expect(t.code, t.stdout).toBe(0);
    expect(t.stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it("policy test fails (1) and explains when a case does not hold", async () => {
    await writeFile(
      join(w.dir, "policies", "broken.test.yaml"),
      'tests:\n  - name: reports need approval (wrong on purpose)\n    run: ["maintenance/report-lb-state.sh"]\n    env: { DATABASE_URL: "postgres://prod-db.internal/x" }\n    expect: { decision: approval }\n',
    );
    try {
      const t = await guard(w, ["policy", "test"]);
      expect(t.code).toBe(1);
      expect(t.stdout).toMatch(/0 passed, 1 failed/);
      expect(t.stdout).toMatch(/allow/);
    } finally {
      const { rm } = await import("node:fs/promises");
      await rm(join(w.dir, "policies", "broken.test.yaml"));
    }
  });

  it("schema prints the committed JSON Schema", async () => {
    const r = await guard(w, ["policy", "schema"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(await readFile(join(ROOT, "schema", "policy.schema.json"), "utf8")));
  });

  it("lint --json reports located errors and exits 78", async () => {
    const bad = join(w.dir, "bad-lint");
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, "a.yaml"), "version: 1\nenvironments:\n  prod:\n    protected: yes\nrules: []\n");
    const r = await guard(w, ["policy", "lint", "--json"], { env: { GUARD_POLICY: bad } });
    expect(r.code).toBe(78);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(false);
    expect(out.errors.some((e: { line: number; file: string }) => e.line === 4 && e.file.endsWith("a.yaml"))).toBe(true);
  });
});

describe("guard store migrate", () => {
  it("creates the PostgreSQL schema, and is idempotent", async () => {
    const db = await createTestDatabase();
    try {
      const first = await guard(w, ["store", "migrate", "--json"], { env: { GUARD_STORE: db.url } });
      expect(first.code, first.stderr).toBe(0);
      const r1 = JSON.parse(first.stdout);
      expect(r1.to).toBeGreaterThan(r1.from);
      const second = JSON.parse((await guard(w, ["store", "migrate", "--json"], { env: { GUARD_STORE: db.url } })).stdout);
      expect(second.from).toBe(second.to);
    } finally {
      await db.drop();
    }
  });

  it("refuses a file store with a usage error", async () => {
    expect((await guard(w, ["store", "migrate"])).code).toBe(64);
  });
});

describe("help", () => {
  it("--help lists the exit codes and the mode in force", async () => {
    const r = await guard(w, ["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/75\s+approval needed/);
    expect(r.stdout).toMatch(/Mode: (guardrail|pinned)/);
  });

  it("an unknown command or option is a usage error (64)", async () => {
    expect((await guard(w, ["frobnicate"])).code).toBe(64);
    expect((await guard(w, ["check", "--frob", "--", "true"])).code).toBe(64);
  });
});
