/**
 * SECURITY-CASES owed end to end that no other suite covered through the built CLI: I1 (never a prompt,
 * never a hang), I2 (--yes is not an approval), A8 (a consumed approval copied under another request),
 * A13 (the policy changed after approval), C11 (more run-time-only variables), E12 (a changed target
 * with `guard run -- CMD`), T1/T2 (hostile argv, path and reason on every screen and in the log).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BIN, makeWorld, requestIdIn, type World } from "../e2e/world.js";
import { PROD, PURGE, addPurgeScript, approvedRequest, guardRun, runRequest, runsOf, statusOf } from "../fault/harness.js";

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
    const id = await approvedRequest(w, "--ticket=i1-confirm");
    const noConfirm = await guardRun(w, ["run", "--request", id], { as: "alice", env: PROD, timeoutMs: 10_000 });
    expect(noConfirm.code).toBe(64);
    const noReason = await guardRun(w, ["run", "--confirm", "production", "--", PURGE, "--ticket=i1-reason"], { as: "alice", env: PROD, timeoutMs: 10_000 });
    expect(noReason.code).toBe(64);
    expect(noReason.stderr).toMatch(/--reason/);
  });
});

describe("I2: --yes and --non-interactive only ever suppress prompts", () => {
  it.each([["--yes"], ["--non-interactive"], ["-y"]])("I2: `guard run %s` is not an approval: refused as usage (64), nothing runs, no request made", async (flag) => {
    const before = await requestCount();
    const r = await guardRun(w, ["run", flag, "--reason", "i2", "--confirm", "production", "--", PURGE, "--ticket=i2"], { as: "alice", env: PROD });
    expect(r.code).toBe(64);
    expect(await runsOf(w, "--ticket=i2")).toBe(0);
    expect(await requestCount()).toBe(before);
  });

  it("I2: `guard approve --yes` by the requester is still a self-approval (77)", async () => {
    const asked = await guardRun(w, ["run", "--confirm", "production", "--reason", "i2", "--", PURGE, "--ticket=i2-self"], { as: "alice", env: PROD });
    const id = requestIdIn(asked.stderr);
    const r = await guardRun(w, ["approve", id, "--yes"], { as: "alice" });
    expect(r.code).toBe(77);
    expect(await statusOf(w, id)).toBe("pending");
  });
});

describe("A8: replaying a consumed approval", () => {
  it("A8: the approval of a consumed request copied under another request: refused (65), nothing runs", async () => {
    // A store of its own: the planted record makes every listing of this store an integrity failure.
    const store = join(w.dir, "store-a8");
    const env = { GUARD_STORE: `file:${store}` };
    const first = await approvedRequest(w, "--ticket=a8-first", env);
    expect((await runRequest(w, first, { env })).code).toBe(0);
    const asked = await guardRun(w, ["run", "--confirm", "production", "--reason", "a8", "--", PURGE, "--ticket=a8-second"], { as: "alice", env: { ...PROD, ...env } });
    const second = requestIdIn(asked.stderr);
    const from = join(store, "approvals", first);
    const to = join(store, "approvals", second);
    await mkdir(to, { recursive: true, mode: 0o700 });
    for (const f of await readdir(from)) await copyFile(join(from, f), join(to, f));
    const r = await runRequest(w, second, { env });
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/is for request/);
    expect(await runsOf(w, "--ticket=a8-second")).toBe(0);
    expect(await runsOf(w, "--ticket=a8-first")).toBe(1);
  });
});

describe("A13: the policy in force decides, not the one the approval was made under", () => {
  it("A13: the approver removed from the policy after approving: the run is refused (77), nothing runs, nothing consumed", async () => {
    const id = await approvedRequest(w, "--ticket=a13");
    const file = join(w.dir, "policies", "guard.yaml");
    const original = await readFile(file, "utf8");
    await writeFile(file, original.replace(/^ {2}bob: .*\n/m, ""));
    try {
      const r = await runRequest(w, id);
      expect(r.code, r.stderr).toBe(77);
      expect(await runsOf(w, "--ticket=a13")).toBe(0);
    } finally {
      await writeFile(file, original);
    }
    expect(await statusOf(w, id)).toBe("approved");
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
    const id = await approvedRequest(w, tag);
    const r = await runRequest(w, id, { env: { [name]: value } });
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`env.${name}`);
    expect(await runsOf(w, tag)).toBe(0);
    expect(await statusOf(w, id)).toBe("approved");
  });

  it("E12: `guard run -- CMD` with DATABASE_URL changed after approval does not find the approval: a new request (75)", async () => {
    const tag = "--ticket=e12";
    const id = await approvedRequest(w, tag);
    const r = await guardRun(w, ["run", "--reason", "e12", "--confirm", "production", "--", PURGE, tag], {
      as: "alice",
      env: { DATABASE_URL: "postgres://app@prod-db.other/elb" },
    });
    expect(r.code).toBe(75);
    expect(requestIdIn(r.stderr)).not.toBe(id);
    expect(await runsOf(w, tag)).toBe(0);
    expect(await statusOf(w, id)).toBe("approved");
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
    const asked = await guardRun(w, ["run", "--confirm", "production", "--reason", reason, "--", script, ...args], { as: "alice", env: PROD });
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
    const r = await guardRun(w, args, { as });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout + r.stderr;
  }
});
