/**
 * SECURITY-CASES owed end to end that no other suite covered through the built CLI: I1 (never a prompt,
 * never a hang), I2 (--yes is not an approval), A8 (a consumed approval copied under another request),
 * A13 (the policy changed after approval), C11 (more run-time-only variables), E12 (a changed target
 * with `guard run -- CMD`), E13–E17 (the environment of an approved run, deny by default), T1/T2
 * (hostile argv, path and reason on every screen and in the log).
 *
 * Most calls run guard's command line in the test process (guardIn, through ./in-process-harness): the
 * same arguments, environment, store and keys, without a Node process each. The built CLI still runs
 * what needs a real process: I1's refusals without a terminal (stdin /dev/null, an open pipe that never
 * ends, within a time limit), C11's NODE_OPTIONS (which a spawned guard's own Node reads too), and E15's
 * approved run (the environment a real guard process passes its command), the file's end-to-end flow.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BIN, makeWorld, requestIdIn, type World } from "../e2e/world.js";
import { PROD, PURGE, addPurgeScript, guardRun, runRequest, runsOf } from "../fault/harness.js";
import { approvedRequestIn, auditVerifyIn, guardRunIn, runRequestIn, statusOfIn } from "./in-process-harness.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
  await addPurgeScript(w);
});
afterAll(async () => w?.cleanup());

const requestCount = async (): Promise<number> => (await readdir(join(w.store, "requests")).catch(() => [])).length;

describe("I1: without a terminal guard never prompts and never hangs", () => {
  it("I1: approvals missing, stdin /dev/null: 75 at once with the request id and the approve line, stdout clean", async () => {
    const started = performance.now();
    const r = await guardRun(w, ["run", "--confirm", "production", "--reason", "i1", "--", PURGE, "--ticket=i1"], { as: "alice", env: PROD, timeoutMs: 10_000 });
    expect(r.signal, "guard had to be killed: it waited").toBeNull();
    expect(r.code).toBe(75);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/guard approve r-[a-z2-7]{20}/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("I1: stdin an open pipe that never ends: refused (C10), not waited on", async () => {
    const child = spawn(process.execPath, [BIN, "run", "--confirm", "production", "--reason", "i1", "--", PURGE, "--ticket=i1-pipe"], {
      cwd: w.dir,
      env: { ...w.env, ...PROD, GUARD_KEY: w.people.alice!.key },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
    clearTimeout(timer);
    child.stdin.destroy();
    expect(signal, "guard waited on its stdin").toBeNull();
    expect(code, stderr).toBe(77);
    expect(stderr).toMatch(/standard input is a (pipe|socket)/);
  });

  it("I1: a missing --confirm or --reason without a terminal is a usage error (64), never a prompt", async () => {
    const id = await approvedRequestIn(w, "--ticket=i1-confirm");
    const noConfirm = await guardRunIn(w, ["run", "--request", id], { as: "alice", env: PROD });
    expect(noConfirm.code).toBe(64);
    const noReason = await guardRunIn(w, ["run", "--confirm", "production", "--", PURGE, "--ticket=i1-reason"], { as: "alice", env: PROD });
    expect(noReason.code).toBe(64);
    expect(noReason.stderr).toMatch(/--reason/);
  });
});

describe("I2: --yes and --non-interactive only ever suppress prompts", () => {
  it.each([["--yes"], ["--non-interactive"], ["-y"]])("I2: `guard run %s` is not an approval: refused as usage (64), nothing runs, no request made", async (flag) => {
    const before = await requestCount();
    const r = await guardRunIn(w, ["run", flag, "--reason", "i2", "--confirm", "production", "--", PURGE, "--ticket=i2"], { as: "alice", env: PROD });
    expect(r.code).toBe(64);
    expect(await runsOf(w, "--ticket=i2")).toBe(0);
    expect(await requestCount()).toBe(before);
  });

  it("I2: `guard approve --yes` by the requester is still a self-approval (77)", async () => {
    const asked = await guardRunIn(w, ["run", "--confirm", "production", "--reason", "i2", "--", PURGE, "--ticket=i2-self"], { as: "alice", env: PROD });
    const id = requestIdIn(asked.stderr);
    const r = await guardRunIn(w, ["approve", id, "--yes"], { as: "alice" });
    expect(r.code).toBe(77);
    expect(await statusOfIn(w, id)).toBe("pending");
  });
});

describe("A8: replaying a consumed approval", () => {
  it("A8: the approval of a consumed request copied under another request: refused (65), nothing runs", async () => {
    // A store of its own: the planted record makes every listing of this store an integrity failure.
    const store = join(w.dir, "store-a8");
    const env = { GUARD_STORE: `file:${store}` };
    const first = await approvedRequestIn(w, "--ticket=a8-first", env);
    expect((await runRequestIn(w, first, { env })).code).toBe(0);
    const asked = await guardRunIn(w, ["run", "--confirm", "production", "--reason", "a8", "--", PURGE, "--ticket=a8-second"], { as: "alice", env: { ...PROD, ...env } });
    const second = requestIdIn(asked.stderr);
    const from = join(store, "approvals", first);
    const to = join(store, "approvals", second);
    await mkdir(to, { recursive: true, mode: 0o700 });
    for (const f of await readdir(from)) await copyFile(join(from, f), join(to, f));
    const r = await runRequestIn(w, second, { env });
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/is for request/);
    expect(await runsOf(w, "--ticket=a8-second")).toBe(0);
    expect(await runsOf(w, "--ticket=a8-first")).toBe(1);
  });
});

describe("A13: the policy in force decides, not the one the approval was made under", () => {
  it("A13: the approver removed from the policy after approving: the run is refused (77), nothing runs, nothing consumed", async () => {
    const id = await approvedRequestIn(w, "--ticket=a13");
    const file = join(w.dir, "policies", "guard.yaml");
    const original = await readFile(file, "utf8");
    await writeFile(file, original.replace(/^ {2}bob: .*\n/m, ""));
    try {
      const r = await runRequestIn(w, id);
      expect(r.code, r.stderr).toBe(77);
      expect(await runsOf(w, "--ticket=a13")).toBe(0);
    } finally {
      await writeFile(file, original);
    }
    expect(await statusOfIn(w, id)).toBe("approved");
  });
});

describe("C11 and E12: the environment at run time is part of the run", () => {
  it.each([
    // A value Node itself accepts: NODE_OPTIONS also reaches guard's own runtime (a documented limit).
    ["NODE_OPTIONS", "--max-old-space-size=256"],
    ["BASH_ENV", "/tmp/evil.sh"],
    ["PGOPTIONS", "-c search_path=evil"],
    ["LD_AUDIT", "/tmp/evil.so"],
  ])("C11: %s set only at run time is a difference (77 naming it), nothing runs, nothing consumed", async (name, value) => {
    const tag = `--ticket=c11-${name}`;
    const id = await approvedRequestIn(w, tag);
    // NODE_OPTIONS is the one a spawned guard's own Node reads too: that run goes through the built CLI.
    const r = name === "NODE_OPTIONS" ? await runRequest(w, id, { env: { [name]: value } }) : await runRequestIn(w, id, { env: { [name]: value } });
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`env.${name}`);
    expect(await runsOf(w, tag)).toBe(0);
    expect(await statusOfIn(w, id)).toBe("approved");
  });

  it("E12: `guard run -- CMD` with DATABASE_URL changed after approval does not find the approval: a new request (75)", async () => {
    const tag = "--ticket=e12";
    const id = await approvedRequestIn(w, tag);
    const r = await guardRunIn(w, ["run", "--reason", "e12", "--confirm", "production", "--", PURGE, tag], {
      as: "alice",
      env: { DATABASE_URL: "postgres://app@prod-db.other/elb" },
    });
    expect(r.code).toBe(75);
    expect(requestIdIn(r.stderr)).not.toBe(id);
    expect(await runsOf(w, tag)).toBe(0);
    expect(await statusOfIn(w, id)).toBe("approved");
  });
});

describe("E13–E17: the environment of an approved run, deny by default", () => {
  // A bash script (so an exported function named like a builtin would replace it) that prints its
  // environment after its arguments, one variable a line, sorted.
  const ENV_SCRIPT = "./maintenance/purge-env.sh";
  const PWNED = "BASH_FUNC_echo%%";
  beforeAll(async () => {
    await writeFile(join(w.dir, ENV_SCRIPT), '#!/bin/bash\necho "ran $*"\nenv | LC_ALL=C sort\n', { mode: 0o755 });
  });

  async function approved(command: string[], env: Record<string, string> = {}): Promise<string> {
    const asked = await guardRunIn(w, ["run", "--confirm", "production", "--reason", "env", "--", ...command], { as: "alice", env: { ...PROD, ...env } });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    const ok = await guardRunIn(w, ["approve", id, "--yes"], { as: "bob", env: env.GUARD_STORE ? { GUARD_STORE: env.GUARD_STORE } : {} });
    expect(ok.code, ok.stderr).toBe(0);
    return id;
  }
  const childEnv = (stdout: string): Record<string, string> =>
    Object.fromEntries(stdout.split("\n").slice(1).filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const runStarted = async (id: string, env: Record<string, string> = {}): Promise<Record<string, unknown>> => {
    const log = await guardRunIn(w, ["audit", "log", "--json", "--request", id], { as: "alice", env });
    const started = log.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> }).find((e) => e.type === "run.started");
    expect(started, log.stderr).toBeDefined();
    return started!.data;
  };

  it("E13: `env 'BASH_FUNC_echo%%=…' CMD` given to --request after approval: refused (77), nothing runs, nothing consumed", async () => {
    const tag = "--ticket=e13-prefix";
    const id = await approved([ENV_SCRIPT, tag]);
    const r = await guardRunIn(w, ["run", "--request", id, "--confirm", "production", "--", "env", `${PWNED}=() { echo pwned; }`, ENV_SCRIPT, tag], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/differs from request/);
    expect(r.stderr).toContain(PWNED);
    expect(r.stdout).toBe("");
    expect(await statusOfIn(w, id)).toBe("approved");
  });

  it("E13: an exported bash function in the environment after approval: refused (77) naming it, nothing runs, nothing consumed", async () => {
    const tag = "--ticket=e13-exported";
    const id = await approved([ENV_SCRIPT, tag]);
    const r = await runRequestIn(w, id, { env: { [PWNED]: "() {  builtin echo pwned\n}" } });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain(`env.${PWNED}`);
    expect(r.stdout).toBe("");
    expect(await statusOfIn(w, id)).toBe("approved");
  });

  it("E13: `guard run -- env 'BASH_FUNC_echo%%=…' CMD` does not find the approval of CMD: a new request (75) that shows the prefix", async () => {
    const tag = "--ticket=e13-new";
    const id = await approved([ENV_SCRIPT, tag]);
    const r = await guardRunIn(w, ["run", "--reason", "e13", "--confirm", "production", "--", "env", `${PWNED}=() { echo pwned; }`, ENV_SCRIPT, tag], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(75);
    const other = requestIdIn(r.stderr);
    expect(other).not.toBe(id);
    expect(r.stdout).toBe("");
    const shown = JSON.parse((await guardRunIn(w, ["show", other, "--json"], { as: "bob" })).stdout) as { argv: string[] };
    expect(shown.argv).toEqual(["env", `${PWNED}=() { echo pwned; }`, ENV_SCRIPT, tag]);
    expect((await guardRunIn(w, ["show", other], { as: "bob" })).stdout).toContain(`command:      env '${PWNED}=() { echo pwned; }' ${ENV_SCRIPT} ${tag}`);
    expect(await statusOfIn(w, id)).toBe("approved");
  });

  /** A variable added or changed after approval (`change`): `run --request` refuses (77) naming `field`, runs nothing, consumes nothing. */
  async function refusedNamingIt(tagPrefix: string, change: Record<string, string>, field: string): Promise<void> {
    const tag = `--ticket=${tagPrefix}-${field}`;
    const id = await approved([ENV_SCRIPT, tag]);
    const r = await runRequestIn(w, id, { env: change });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain(field);
    expect(r.stdout).toBe("");
    expect(await statusOfIn(w, id)).toBe("approved");
  }

  it.each([
    ["PSQLRC added", { PSQLRC: "/tmp/evil.psqlrc" }, "env.PSQLRC"],
    ["HOME changed", { HOME: "/tmp/evil-home" }, "env.HOME"],
    ["PYTHONSTARTUP added", { PYTHONSTARTUP: "/tmp/evil.py" }, "env.PYTHONSTARTUP"],
    ["an ordinary variable of the request changed", { LANG: "C" }, "env.LANG"],
  ])("E14: %s after approval: refused (77) naming it, nothing runs, nothing consumed", async (_what, change, field) => {
    await refusedNamingIt("e14", change, field);
  });

  it.each([
    ["PYTHONPATH added", { PYTHONPATH: "/tmp/evil-py" }, "env.PYTHONPATH"],
    ["PERL5LIB added", { PERL5LIB: "/tmp/evil-pl" }, "env.PERL5LIB"],
    ["NODE_PATH added", { NODE_PATH: "/tmp/evil-node" }, "env.NODE_PATH"],
    ["RUBYLIB added", { RUBYLIB: "/tmp/evil-rb" }, "env.RUBYLIB"],
    ["PATH with another directory first (where `#!/usr/bin/env python3` finds its interpreter)", { PATH: `/tmp/evil-bin:${process.env.PATH ?? "/usr/bin:/bin"}` }, "env.PATH"],
  ])("SW4: an interpreter's path, %s after approval: refused (77) naming it, nothing runs, nothing consumed", async (_what, change, field) => {
    await refusedNamingIt("sw4", change, field);
  });

  it("E15: a variable that appeared after approval (in no bound set) does not reach the command; the run goes ahead and says so", async () => {
    const tag = "--ticket=e15";
    // A store of its own, so that `audit verify` below judges only this run.
    const store = { GUARD_STORE: `file:${join(w.dir, "store-e15")}` };
    const id = await approved([ENV_SCRIPT, tag], store);
    // The approved run through the built CLI: the environment a real guard process hands its command.
    const r = await guardRun(w, ["run", "--confirm", "production", "--", ENV_SCRIPT, tag], { as: "alice", env: { ...PROD, ...store, FOO_NEW: "1" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(`ran ${tag}`);
    const env = childEnv(r.stdout);
    expect(env.FOO_NEW).toBeUndefined();
    expect(env.DATABASE_URL).toBe(PROD.DATABASE_URL);
    expect(env.HOME).toBe(w.home);
    expect(r.stderr).toMatch(/not passed to the command \(not in the approved request\): FOO_NEW/);
    expect((await runStarted(id, store)).envWithheld).toEqual(["FOO_NEW"]);
    const verify = await auditVerifyIn(w, store);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.report?.ok).toBe(true);
  });

  it("E16: TERM, COLUMNS and SHLVL changed after approval: the run goes ahead with them as they are now; PWD is the bound directory", async () => {
    const tag = "--ticket=e16";
    const id = await approved([ENV_SCRIPT, tag], { TERM: "xterm", COLUMNS: "80", SHLVL: "1" });
    const r = await runRequestIn(w, id, { env: { TERM: "screen-256color", COLUMNS: "211", SHLVL: "4", PWD: "/elsewhere" } });
    expect(r.code, r.stderr).toBe(0);
    const env = childEnv(r.stdout);
    // bash counts itself in SHLVL: 4 as passed, 5 inside the script
    expect([env.TERM, env.COLUMNS, env.SHLVL]).toEqual(["screen-256color", "211", "5"]);
    expect(env.PWD).toBe(w.dir);
    expect((await runStarted(id)).envWithheld).toEqual([]);
  });

  it("E17: `env NAME=VALUE CMD` is bound, shown and audited as typed, and runs CMD with the assignment", async () => {
    const tag = "--ticket=e17";
    const command = ["env", "LB_MODE=dry-run", ENV_SCRIPT, tag];
    const id = await approved(command);
    const show = await guardRunIn(w, ["show", id], { as: "bob" });
    expect(show.stdout).toContain(`command:      env LB_MODE=dry-run ${ENV_SCRIPT} ${tag}`);
    expect(show.stdout).toMatch(/also passed: .*LB_MODE/s);
    const r = await guardRunIn(w, ["run", "--confirm", "production", "--", ...command], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(`ran ${tag}`);
    expect(childEnv(r.stdout).LB_MODE).toBe("dry-run");
    expect((await runStarted(id)).argv).toEqual(command);
  });

  it("E17: the approver sees every variable passed by name, the consequential ones by value, secrets redacted, and what may vary", async () => {
    const tag = "--ticket=e17-show";
    const id = await approved([ENV_SCRIPT, tag], {
      PGPASSWORD: "hunter2",
      PSQLRC: "/etc/psqlrc",
      VAULT_NAMESPACE: `${"a".repeat(2000)}/evil`,
      "T1_\x1b[2J": "x",
      PGAPPNAME: "\x1b]52;c;aGVsbG8=\x07",
    });
    const json = JSON.parse((await guardRunIn(w, ["show", id, "--json"], { as: "bob" })).stdout) as { env: { shown: Record<string, string>; nameOnly: string[]; unset: string[]; mayVary: string[] } };
    expect(json.env.shown).toMatchObject({ HOME: w.home, PSQLRC: "/etc/psqlrc", DATABASE_URL: PROD.DATABASE_URL });
    expect(json.env.shown.PGPASSWORD).toMatch(/^\(secret, sha256 [0-9a-f]{8}…\)$/);
    expect(json.env.nameOnly).toEqual(expect.arrayContaining(["LANG", "GUARD_KEY", "NO_COLOR"]));
    expect(json.env.unset).toEqual(expect.arrayContaining(["NODE_OPTIONS", "BASH_ENV"]));
    expect(json.env.mayVary).toEqual(expect.arrayContaining(["TERM", "COLUMNS", "SSH_AUTH_SOCK"]));
    const text = (await guardRunIn(w, ["show", id], { as: "bob" })).stdout;
    expect(text).not.toContain("hunter2");
    expect(text).toContain(`HOME=${w.home}`);
    expect(text).toMatch(/also passed: .*GUARD_KEY.*LANG/s);
    expect(text).toMatch(/may vary: .*TERM/s);
    expect(text).toContain("WARNING: VAULT_NAMESPACE is too long to show in full");
    expect(text).not.toContain("/evil");
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(text).toContain("T1_\\x1b[2J");
    expect(text).toContain("PGAPPNAME=\\x1b]52;c;aGVsbG8=\\x07");
    expect(text).toMatch(/WARNING: the environment contains U\+001B ESCAPE/);
  });
});

describe("T1/T2: hostile text never reaches a terminal raw", () => {
  // ESC, C1 CSI, BEL, CR, bidi overrides and isolates, zero-width characters.
  const RAW = /[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

  it("T1/T2: argv, script path and reason are escaped in run, show, requests, approve and audit log, and flagged for the approver", async () => {
    const script = "./maintenance/purge-\u202egnp.sh";
    await writeFile(join(w.dir, script), `#!/bin/sh\necho "$*" >> "${join(w.dir, "ran.log")}"\n`, { mode: 0o755 });
    const args = ["\x1b[2J\x1b[HCommand: ./status.sh", "\u009b31m", "a\rb", "\u202egnp.exe", "x\u200by", "\u2066iso\u2069"];
    const reason = "INC-1\x1b]52;c;aGVsbG8=\x07\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\";
    const asked = await guardRunIn(w, ["run", "--confirm", "production", "--reason", reason, "--", script, ...args], { as: "alice", env: PROD });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    const outputs = [
      ["run", asked.stderr + asked.stdout],
      ["show", await both(["show", id], "bob")],
      ["requests", await both(["requests"], "bob")],
      ["approve", await both(["approve", id, "--yes"], "bob")],
      ["audit log", await both(["audit", "log"], "bob")],
    ] as const;
    for (const [what, text] of outputs) {
      const m = RAW.exec(text.replace(/\n/g, ""));
      expect(m, `${what} printed a raw ${m ? `U+${m[0].codePointAt(0)!.toString(16).padStart(4, "0")}` : ""}`).toBeNull();
    }
    const approve = outputs[3][1];
    expect(approve).toContain("\\x1b[2J");
    expect(approve).toContain("\\u202e");
    expect(approve).toMatch(/WARNING: this request contains .*RIGHT-TO-LEFT OVERRIDE/);
  });

  async function both(args: string[], as: string): Promise<string> {
    const r = await guardRunIn(w, args, { as });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout + r.stderr;
  }
});
