import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { resolveSettings, type ResolveOptions } from "../../src/adapters/config.js";
import { GuardError, PolicyError } from "../../src/core/errors.js";
import { MAX_CONFIG_BYTES, parseConfigText } from "../../src/core/policy/config-text.js";

let tmp: string;
let noSystem: string;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "guard-config-"));
  noSystem = join(tmp, "no-such-system-config.yaml");
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function opts(over: Partial<ResolveOptions> & { cwd: string }): ResolveOptions {
  return { flags: {}, env: { HOME: join(tmp, "home") }, systemConfigPath: noSystem, ...over };
}

async function write(path: string, text: string, mode = 0o644): Promise<string> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

async function rejection(p: Promise<unknown>): Promise<GuardError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GuardError) return e;
    throw e;
  }
  throw new Error("expected a GuardError, got success");
}

describe("resolveSettings: precedence", () => {
  it("flag beats GUARD_POLICY beats guard.config.yaml; relative config paths resolve against the config file", async () => {
    const project = join(tmp, "repo");
    await write(join(project, "guard.config.yaml"), "policies: ./policies\nstore: file:state\nkey: keys/me.pub\n");
    const cwd = join(project, "deep", "er");
    await mkdir(cwd, { recursive: true });

    const fromConfig = await resolveSettings(opts({ cwd }));
    expect(fromConfig).toMatchObject({
      policyDir: join(project, "policies"),
      policySource: "config",
      store: `file:${join(project, "state")}`,
      storeSource: "config",
      key: join(project, "keys/me.pub"),
      keySource: "config",
      configFile: join(project, "guard.config.yaml"),
      systemConfig: null,
      pinned: { policy: false, store: false },
      mode: "guardrail",
    });

    const fromEnv = await resolveSettings(opts({ cwd, env: { HOME: tmp, GUARD_POLICY: "p2", GUARD_STORE: "postgres://db/guard", GUARD_KEY: "/k" } }));
    expect(fromEnv).toMatchObject({ policyDir: join(cwd, "p2"), policySource: "env", store: "postgres://db/guard", storeSource: "env", key: "/k", keySource: "env" });

    const fromFlag = await resolveSettings(opts({ cwd, flags: { policy: "/abs/pol", store: "file:/s", key: "/kk" }, env: { HOME: tmp, GUARD_POLICY: "p2", GUARD_STORE: "file:/x", GUARD_KEY: "/k" } }));
    expect(fromFlag).toMatchObject({ policyDir: "/abs/pol", policySource: "flag", store: "file:/s", storeSource: "flag", key: "/kk", keySource: "flag" });
  });

  it("defaults: store under $XDG_STATE_HOME (absolute only), else ~/.local/state; key null", async () => {
    const cwd = join(tmp, "w");
    await mkdir(cwd);
    const home = join(tmp, "home");
    const a = await resolveSettings(opts({ cwd, flags: { policy: "pol" }, env: { HOME: home, XDG_STATE_HOME: "/var/state" } }));
    expect(a).toMatchObject({ store: "file:/var/state/access-guard", storeSource: "default", key: null, keySource: "default", policySource: "flag", configFile: null });
    const b = await resolveSettings(opts({ cwd, flags: { policy: "pol" }, env: { HOME: home, XDG_STATE_HOME: "relative/state" } }));
    expect(b.store).toBe(`file:${join(home, ".local/state/access-guard")}`);
  });

  it("no policy anywhere is exit 78 with the three ways to set one, never a default", async () => {
    const cwd = join(tmp, "empty");
    await mkdir(cwd);
    const e = await rejection(resolveSettings(opts({ cwd })));
    expect(e).toBeInstanceOf(PolicyError);
    expect(e.exitCode).toBe(78);
    expect(e.message).toContain("no policy found");
    expect(e.hint).toContain("--policy");
    expect(e.hint).toContain("GUARD_POLICY");
    expect(e.hint).toContain("policies:");
  });

  it("an empty GUARD_POLICY is refused (78), an empty --policy is a usage error (64)", async () => {
    const cwd = join(tmp, "w");
    await mkdir(cwd);
    expect((await rejection(resolveSettings(opts({ cwd, env: { GUARD_POLICY: "" } })))).exitCode).toBe(78);
    expect((await rejection(resolveSettings(opts({ cwd, flags: { policy: " " } })))).exitCode).toBe(64);
  });

  it("the nearest guard.config.yaml wins over one further up", async () => {
    await write(join(tmp, "guard.config.yaml"), "policies: outer\n");
    await write(join(tmp, "inner", "guard.config.yaml"), "policies: inner-pol\n");
    const s = await resolveSettings(opts({ cwd: join(tmp, "inner") }));
    expect(s.policyDir).toBe(join(tmp, "inner", "inner-pol"));
  });
});

describe("resolveSettings: system configuration pins (P10)", () => {
  it("pins policy and store: flags and variables naming something else are refused with exit 78 naming the system config", async () => {
    const sys = await write(join(tmp, "etc", "config.yaml"), "policies: /srv/guard/policies\nstore: file:/srv/guard/state\n");
    const cwd = join(tmp, "w");
    await mkdir(cwd);
    const s = await resolveSettings(opts({ cwd, systemConfigPath: sys }));
    expect(s).toMatchObject({ policyDir: "/srv/guard/policies", policySource: "system", store: "file:/srv/guard/state", storeSource: "system", pinned: { policy: true, store: true }, mode: "pinned", systemConfig: sys });

    for (const over of [{ flags: { policy: "/elsewhere" } }, { env: { GUARD_POLICY: "/elsewhere" } }, { flags: { store: "file:/tmp/mine" } }, { env: { GUARD_STORE: "postgres://u:secret@h/db" } }]) {
      const e = await rejection(resolveSettings(opts({ cwd, systemConfigPath: sys, ...over })));
      expect(e.exitCode).toBe(78);
      expect(e.message).toContain(sys);
      expect(e.message).not.toContain("secret");
    }
    // Naming the pinned value itself is not an override.
    const same = await resolveSettings(opts({ cwd, systemConfigPath: sys, flags: { policy: "/srv/guard/policies" }, env: { GUARD_STORE: "file:/srv/guard/state" } }));
    expect(same.policySource).toBe("system");
  });

  it("a project guard.config.yaml does not override a pinned policy", async () => {
    const sys = await write(join(tmp, "etc", "config.yaml"), "policies: /srv/p\n");
    await write(join(tmp, "repo", "guard.config.yaml"), "policies: mine\nstore: file:/mine\n");
    const s = await resolveSettings(opts({ cwd: join(tmp, "repo"), systemConfigPath: sys }));
    expect(s).toMatchObject({ policyDir: "/srv/p", policySource: "system", store: "file:/mine", storeSource: "config", pinned: { policy: true, store: false }, mode: "pinned" });
  });

  it("the same directory through a symlink is not an override", async () => {
    await mkdir(join(tmp, "real-pol"));
    await symlink(join(tmp, "real-pol"), join(tmp, "link-pol"));
    const sys = await write(join(tmp, "etc", "config.yaml"), `policies: ${join(tmp, "real-pol")}\n`);
    const s = await resolveSettings(opts({ cwd: tmp, systemConfigPath: sys, flags: { policy: join(tmp, "link-pol") } }));
    expect(s.policyDir).toBe(join(tmp, "real-pol"));
  });

  it("pin: false makes the system values defaults below flags, variables and project config", async () => {
    const sys = await write(join(tmp, "etc", "config.yaml"), "policies: /srv/p\nstore: file:/srv/s\npin: false\n");
    const base = await resolveSettings(opts({ cwd: tmp, systemConfigPath: sys }));
    expect(base).toMatchObject({ policyDir: "/srv/p", policySource: "system", store: "file:/srv/s", storeSource: "system", mode: "guardrail" });
    const over = await resolveSettings(opts({ cwd: tmp, systemConfigPath: sys, flags: { policy: "/x" } }));
    expect(over).toMatchObject({ policyDir: "/x", policySource: "flag" });
  });

  it("P10: a world-writable system or project configuration is refused", async () => {
    const sys = await write(join(tmp, "etc", "config.yaml"), "policies: /srv/p\n", 0o666);
    const e = await rejection(resolveSettings(opts({ cwd: tmp, systemConfigPath: sys })));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/world-writable/);
    await write(join(tmp, "r", "guard.config.yaml"), "policies: p\n", 0o646);
    const e2 = await rejection(resolveSettings(opts({ cwd: join(tmp, "r") })));
    expect(e2.exitCode).toBe(78);
    expect(e2.message).toMatch(/world-writable/);
  });

  it("P10: a FIFO planted as guard.config.yaml above the working directory is refused at once (78), never waited on", async () => {
    await mkdir(join(tmp, "up", "down"), { recursive: true });
    execFileSync("mkfifo", [join(tmp, "up", "guard.config.yaml")]);
    const e = await rejection(resolveSettings(opts({ cwd: join(tmp, "up", "down") })));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/guard\.config\.yaml is not a regular file/);
  });

  it("a configuration larger than any configuration (a planted file) is refused (78) without being read whole; a directory by that name, or a path through a file, is no configuration", async () => {
    await write(join(tmp, "big", "guard.config.yaml"), `policies: p\n${"#".repeat(MAX_CONFIG_BYTES)}\n`);
    const e = await rejection(resolveSettings(opts({ cwd: join(tmp, "big") })));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/guard\.config\.yaml is too large \(\d+ bytes\)/);
    await mkdir(join(tmp, "dir", "guard.config.yaml"), { recursive: true });
    const d = await rejection(resolveSettings(opts({ cwd: join(tmp, "dir") })));
    expect(d.exitCode).toBe(78);
    expect(d.message).toMatch(/guard\.config\.yaml is not a regular file/);
    const plain = await write(join(tmp, "plain"), "x\n");
    await write(join(tmp, "p2", "guard.config.yaml"), "policies: mine\n");
    const s = await resolveSettings(opts({ cwd: join(tmp, "p2"), systemConfigPath: join(plain, "config.yaml") }));
    expect([s.policyDir, s.systemConfig]).toEqual([join(tmp, "p2", "mine"), null]);
  });

  it("run_as comes from the system configuration only; any value but invoking-user is refused (78)", async () => {
    const sys = await write(join(tmp, "etc", "config.yaml"), "policies: /srv/p\nrun_as: invoking-user\n");
    expect((await resolveSettings(opts({ cwd: tmp, systemConfigPath: sys }))).runAs).toBe("invoking-user");
    await write(join(tmp, "etc", "config.yaml"), "policies: /srv/p\nrun_as: root\n");
    const e = await rejection(resolveSettings(opts({ cwd: tmp, systemConfigPath: sys })));
    expect(e.exitCode).toBe(78);
    expect(e.message).toContain("run_as");
    // A project configuration cannot set it (unknown field there), and without a system configuration it is off.
    await write(join(tmp, "proj", "guard.config.yaml"), "policies: p\nrun_as: invoking-user\n");
    expect((await rejection(resolveSettings(opts({ cwd: join(tmp, "proj") })))).exitCode).toBe(78);
    await write(join(tmp, "proj2", "guard.config.yaml"), "policies: p\n");
    expect((await resolveSettings(opts({ cwd: join(tmp, "proj2") }))).runAs).toBeNull();
  });

  it("a system configuration that pins nothing is refused", async () => {
    const sys = await write(join(tmp, "etc", "config.yaml"), "pin: true\n");
    expect((await rejection(resolveSettings(opts({ cwd: tmp, systemConfigPath: sys })))).exitCode).toBe(78);
  });
});

describe("configuration files are strictly validated (exit 78 with file:line:col)", () => {
  const cases: Array<[string, string, string, number, number]> = [
    ["unknown field with did-you-mean", "policies: p\npolicy: q\n", "unknown-field", 2, 1],
    ["duplicate key", "policies: p\nstore: file:/a\npolicies: q\n", "duplicate-key", 1, 1],
    ["nested value", "policies:\n  dir: p\n", "missing-value", 1, 10],
    ["a list", "policies: [a, b]\n", "unsupported-yaml", 1, 11],
    ["an anchor", "policies: &a p\n", "unsupported-yaml", 1, 11],
    ["a number where a string is expected", "policies: 0600\n", "wrong-type", 1, 11],
    ["P7: YAML 1.1 boolean", "store: no\n", "ambiguous-value", 1, 8],
    ["unclosed quote", 'policies: "p\n', "yaml-syntax", 1, 11],
    ["a second document", "policies: p\n---\nstore: x\n", "multiple-documents", 2, 1],
  ];
  for (const [name, text, code, line, col] of cases) {
    it(`${name}`, async () => {
      await write(join(tmp, "guard.config.yaml"), text);
      const e = await rejection(resolveSettings(opts({ cwd: tmp })));
      expect(e).toBeInstanceOf(PolicyError);
      expect(e.exitCode).toBe(78);
      const d = (e as PolicyError).diagnostics[0];
      expect(d).toMatchObject({ code, line, col, file: join(tmp, "guard.config.yaml") });
    });
  }

  it("did-you-mean names the field", () => {
    const r = parseConfigText("polices: p\n", "f", { policies: "string", store: "string" });
    expect(r.diagnostics[0]?.hint).toContain("`policies`");
  });

  it("pin must be a real boolean", () => {
    for (const v of ["yes", '"true"', "1", "on"]) {
      const r = parseConfigText(`pin: ${v}\n`, "f", { pin: "boolean" });
      expect(r.diagnostics.map((d) => d.code)).toEqual(["wrong-type"]);
    }
  });

  it("P9: a BOM, a NUL byte or invalid UTF-8 in the configuration is refused", async () => {
    for (const bytes of [Buffer.from("\ufeffpolicies: p\n"), Buffer.from("policies: p\0\n"), Buffer.from([0x70, 0x3a, 0x20, 0xc3, 0x28, 0x0a])]) {
      await writeFile(join(tmp, "guard.config.yaml"), bytes);
      expect((await rejection(resolveSettings(opts({ cwd: tmp })))).exitCode).toBe(78);
    }
  });

  // Every accepted line must mean what YAML says it means, or editors and guard would disagree.
  const accepted = [
    "policies: ./policies\n",
    "policies: 'it''s here' # comment\n",
    'store: "postgres://u@h:5432/db?sslmode=require"\n',
    "store: file:/var/lib/guard#x\n",
    "---\n# top comment\npolicies: a b c   \nkey: ~/.ssh/id_ed25519.pub\n",
    'key: "\\u00e9t\\u00e9"\n',
    "policies: p\r\nstore: file:/s\r\n",
  ];
  for (const text of accepted) {
    it(`agrees with the yaml package: ${JSON.stringify(text)}`, () => {
      const r = parseConfigText(text, "f", { policies: "string", store: "string", key: "string" });
      expect(r.diagnostics).toEqual([]);
      const mine = Object.fromEntries([...r.values].map(([k, v]) => [k, v.value]));
      expect(mine).toEqual(parseYaml(text));
    });
  }
});

describe("resolveSettings: policy cache location", () => {
  it("guardrail mode caches under $XDG_CACHE_HOME; a pinned policy is never cached", async () => {
    const cwd = join(tmp, "w");
    await mkdir(cwd);
    const s = await resolveSettings(opts({ cwd, flags: { policy: "p" }, env: { HOME: "/home/u", XDG_CACHE_HOME: "/c" } }));
    expect(s.policyCache).toBe("/c/access-guard/policies");
    const sys = await write(join(tmp, "etc", "config.yaml"), "policies: /srv/p\n");
    expect((await resolveSettings(opts({ cwd, systemConfigPath: sys }))).policyCache).toBeNull();
  });
});
