/**
 * `guard whoami` and `guard init` in process: what each takes from the runtime (its environment, its
 * working directory, its login name) decides what it reports and writes. Real keys; no guard process.
 *
 * These carry what test/e2e/commands.test.ts "guard init" once checked through the built CLI (the
 * scaffold, its lint and test, its next step, whoami, never overwriting); it keeps init by the built CLI
 * and the scaffolded script really run by `guard run`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkCommand } from "../../src/commands/check.js";
import { initCommand } from "../../src/commands/init.js";
import { lintCommand, testCommand } from "../../src/commands/policy.js";
import { whoamiCommand } from "../../src/commands/whoami.js";
import { makePerson } from "../e2e/world.js";
import { exitCodeOf, testRuntime } from "../helpers/runtime.js";
import { makeProject, NOW, type Project } from "./project.js";

let p: Project;
beforeAll(async () => {
  p = await makeProject();
}, 30_000);
afterAll(async () => p?.cleanup());

describe("guard whoami, in process", () => {
  const rows: Array<[string, string | null, string[]]> = [
    ["alice", "alice", ["sre"]],
    ["bob", "bob", ["sre", "dba"]],
    ["dave", "dave", ["developer"]],
  ];
  it.each(rows)("as %s: principal %s, groups %j", async (who, principal, groups) => {
    const rt = p.runtime({ as: who });
    expect(await exitCodeOf(rt, () => whoamiCommand({ json: true }, rt)), rt.stderr()).toBe(0);
    const out = JSON.parse(rt.stdout()) as { key: { path: string; source: string }; principal: string | null; groups: string[]; mode: string; store: string };
    expect(out).toMatchObject({ principal, groups, mode: "guardrail", store: p.env.GUARD_STORE });
    expect(out.key).toMatchObject({ path: p.people[who]!.key, source: "env" });
  });

  it("a key the policy does not list: no principal", async () => {
    const eve = await makePerson(p.home, "eve");
    const rt = p.runtime({ env: { GUARD_KEY: eve.key } });
    expect(await exitCodeOf(rt, () => whoamiCommand({ json: true }, rt))).toBe(0);
    expect(JSON.parse(rt.stdout())).toMatchObject({ principal: null, groups: [] });
  });

  it("no policy configured: the key still, with no principal, mode or store", async () => {
    const { GUARD_POLICY: _unset, ...env } = p.env;
    const rt = testRuntime({ env: { ...env, GUARD_KEY: p.people.carol!.key }, cwd: p.home, now: NOW });
    expect(await exitCodeOf(rt, () => whoamiCommand({ json: true }, rt)), rt.stderr()).toBe(0);
    expect(JSON.parse(rt.stdout())).toMatchObject({ key: { path: p.people.carol!.key }, principal: null, mode: null, policy: null, store: null });
  });

  it("no policy configured, but `key:` in guard.config.yaml: that key, as the configuration's (not the default one)", async () => {
    const { GUARD_POLICY: _unset, GUARD_KEY: _unsetKey, ...env } = p.env;
    const dir = join(p.dir, "key-only-project");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "guard.config.yaml"), `key: ${p.people.dave!.key}\n`);
    const rt = testRuntime({ env, cwd: dir, now: NOW });
    expect(await exitCodeOf(rt, () => whoamiCommand({ json: true }, rt)), rt.stderr()).toBe(0);
    expect(JSON.parse(rt.stdout())).toMatchObject({ key: { path: p.people.dave!.key, source: "config" }, principal: null, policy: null });
    // GUARD_KEY still wins over the file, as it does with a policy.
    const rt2 = testRuntime({ env: { ...env, GUARD_KEY: p.people.carol!.key }, cwd: dir, now: NOW });
    expect(await exitCodeOf(rt2, () => whoamiCommand({ json: true }, rt2)), rt2.stderr()).toBe(0);
    expect(JSON.parse(rt2.stdout())).toMatchObject({ key: { path: p.people.carol!.key, source: "env" } });
  });
});

describe("guard init, in process", () => {
  it("scaffolds into the runtime's working directory with the runtime's key; named after the key's comment; never overwrites", async () => {
    const project = join(p.dir, "newproject");
    await mkdir(project);
    const home = join(p.dir, "init-home");
    await mkdir(join(home, ".ssh"), { recursive: true });
    const me = await makePerson(home, "id_ed25519");
    await copyFile(me.key, join(home, ".ssh", "id_ed25519"));
    await copyFile(me.pub, join(home, ".ssh", "id_ed25519.pub"));
    const env = { PATH: p.env.PATH!, HOME: home, NO_COLOR: "1", XDG_CACHE_HOME: join(home, ".cache") };
    const first = testRuntime({ env, cwd: project, now: NOW });
    expect(await exitCodeOf(first, () => initCommand({}, first)), first.stderr()).toBe(0);
    expect(first.stderr()).toMatch(/created\s+guard\.config\.yaml/);
    // Named after the key's comment (id_ed25519@example.com), never after the login ("tester" here).
    expect(first.stderr()).toMatch(/you are principal `id_ed25519` \(from your key's comment\)/);
    const policy = await readFile(join(project, "policies", "guard.yaml"), "utf8");
    expect(policy).toContain(me.line.split(" ").slice(0, 2).join(" "));
    expect(policy).toMatch(/^ {2}id_ed25519:$/m);
    // The scaffold lints without a warning about its own output, noting that a colleague is still
    // missing; its tests pass, in process too.
    const lint = testRuntime({ env, cwd: project, now: NOW });
    expect(await exitCodeOf(lint, () => lintCommand({}, lint)), lint.stderr()).toBe(0);
    expect(lint.stdout()).toMatch(/0 warnings/);
    expect(lint.stdout()).not.toMatch(/⚠|warning\[/);
    expect(lint.stdout()).toMatch(/note: the policy names one person/);
    const test = testRuntime({ env, cwd: project, now: NOW });
    expect(await exitCodeOf(test, () => testCommand({}, test)), test.stderr()).toBe(0);
    expect(test.stdout()).toMatch(/^4 passed, 0 failed$/m);
    // The next step it prints (and the README shows) holds: the scaffolded script, in development.
    expect(first.stderr()).toMatch(/guard check -- \.\/scripts\/cleanup\.sh/);
    const check = testRuntime({ env, cwd: project, now: NOW });
    expect(await exitCodeOf(check, () => checkCommand(["./scripts/cleanup.sh"], {}, check)), check.stderr() + check.stdout()).toBe(0);
    // whoami finds the same key (~/.ssh/id_ed25519) and the principal init named after it.
    const who = testRuntime({ env, cwd: project, now: NOW });
    expect(await exitCodeOf(who, () => whoamiCommand({ json: true }, who)), who.stderr()).toBe(0);
    const me2 = JSON.parse(who.stdout()) as { principal: string; key: { fingerprint: string } };
    expect(me2.principal).toBe("id_ed25519");
    expect(me2.key.fingerprint).toMatch(/^SHA256:/);
    // Again, after a hand edit: every file kept, the edit too.
    await writeFile(join(project, "policies", "guard.yaml"), `${policy}# edited by hand\n`);
    const again = testRuntime({ env, cwd: project, now: NOW });
    expect(await exitCodeOf(again, () => initCommand({}, again))).toBe(0);
    expect(again.stderr()).not.toContain("created");
    expect(again.stderr().match(/kept/g)).toHaveLength(4);
    expect(again.stderr()).toMatch(/kept\s+policies\/guard\.yaml/);
    expect(await readFile(join(project, "policies", "guard.yaml"), "utf8")).toContain("# edited by hand");
  });

  it("a key without a comment: the runtime's login name names the principal", async () => {
    const project = join(p.dir, "unnamed");
    await mkdir(project);
    const alice = p.people.alice!;
    const line = alice.line.split(" ").slice(0, 2).join(" ");
    const pub = join(p.dir, "nocomment.pub");
    await writeFile(pub, `${line}\n`);
    const rt = testRuntime({ env: { PATH: p.env.PATH!, HOME: p.home, NO_COLOR: "1" }, cwd: project, now: NOW });
    expect(await exitCodeOf(rt, () => initCommand({ key: pub }, rt)), rt.stderr()).toBe(0);
    expect(rt.stderr()).toMatch(/you are principal `tester`/); // test/helpers/runtime.ts: username() is "tester"
  });
});
