/**
 * `guard policy lint` and `guard policy test` in process, as a table over policy directories: the exit
 * code each leaves (through the runtime, never process.exitCode) and what it reports. No guard process
 * is spawned; test/e2e/commands.test.ts keeps "lint and test pass on the repository's example policy".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { lintCommand, testCommand } from "../../src/commands/policy.js";
import { standardPolicy } from "../e2e/world.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { makeProject, type Project } from "./project.js";

let p: Project;
const dirs: Record<string, string> = {};

const PASSING = `tests:
  - name: a purge in production needs an SRE
    run: ["maintenance/purge-lb-state.sh"]
    env: { DATABASE_URL: "postgres://prod-db.internal/elb" }
    expect: { decision: approval, environment: production, rules: [purge-needs-an-sre] }
  - name: reports run in staging
    run: ["maintenance/report-lb-state.sh"]
    env: { DATABASE_URL: "postgres://staging-db.internal/elb" }
    expect: { decision: allow, environment: staging }
`;
const FAILING = `tests:
  - name: claims a purge in production is allowed
    run: ["maintenance/purge-lb-state.sh"]
    env: { DATABASE_URL: "postgres://prod-db.internal/elb" }
    expect: { decision: allow }
`;

beforeAll(async () => {
  p = await makeProject();
  const make = async (name: string, files: Record<string, string>): Promise<void> => {
    const dir = join(p.dir, `policies-${name}`);
    await mkdir(dir);
    for (const [file, body] of Object.entries(files)) await writeFile(join(dir, file), body);
    dirs[name] = dir;
  };
  const policy = standardPolicy(p.people);
  await make("passing", { "guard.yaml": policy, "guard.test.yaml": PASSING });
  await make("failing", { "guard.yaml": policy, "guard.test.yaml": FAILING });
  await make("untested", { "guard.yaml": policy });
  await make("misspelled", { "guard.yaml": policy.replace("require: { approvals: 1,", "require: { aprovals: 1,") });
}, 30_000);
afterAll(async () => p?.cleanup());

describe("guard policy lint, in process", () => {
  const rows: Array<[string, number, boolean]> = [
    ["passing", 0, true],
    ["untested", 0, true],
    ["misspelled", 78, false],
  ];
  it.each(rows)("%s → exit %s, ok %s", async (name, code, ok) => {
    const rt = p.runtime({ env: { GUARD_POLICY: dirs[name]! } });
    expect(await exitCodeOf(rt, () => lintCommand({ json: true }, rt)), rt.stderr()).toBe(code);
    const out = JSON.parse(rt.stdout()) as { ok: boolean; dir: string; errors: Array<{ message: string; file?: string; line?: number }> };
    expect(out.ok).toBe(ok);
    expect(out.dir).toBe(dirs[name]);
    if (!ok) {
      expect(JSON.stringify(out.errors)).toContain("aprovals");
      expect(JSON.stringify(out.errors)).toContain("guard.yaml");
    }
  });

  it("misspelled, as text: 78 with the diagnostic on stderr and nothing on stdout", async () => {
    const rt = p.runtime({ env: { GUARD_POLICY: dirs.misspelled! } });
    expect(await exitCodeOf(rt, () => lintCommand({}, rt))).toBe(78);
    expect(rt.stdout()).toBe("");
    expect(rt.stderr()).toMatch(/guard\.yaml:\d+:\d+/);
  });
});

describe("guard policy test, in process", () => {
  const rows: Array<[string, number, number, number]> = [
    ["passing", 0, 2, 0],
    ["failing", 1, 0, 1],
    ["untested", 1, 0, 0],
  ];
  it.each(rows)("%s → exit %s (%s passed, %s failed)", async (name, code, passed, failed) => {
    const rt = p.runtime({ env: { GUARD_POLICY: dirs[name]! } });
    expect(await exitCodeOf(rt, () => testCommand({ json: true }, rt)), rt.stderr()).toBe(code);
    expect(JSON.parse(rt.stdout())).toMatchObject({ passed, failed });
  });

  it("a failing test names itself and what it got", async () => {
    const rt = p.runtime({ env: { GUARD_POLICY: dirs.failing! } });
    expect(await exitCodeOf(rt, () => testCommand({}, rt))).toBe(1);
    expect(rt.stdout()).toContain("claims a purge in production is allowed");
    expect(rt.stdout()).toContain("0 passed, 1 failed");
  });
});
