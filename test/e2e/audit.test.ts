/**
 * The audit log end to end: every decision recorded, `guard audit verify` catching edits, reorders,
 * truncation against an anchor and deleted consumptions (S3, S6, S7), a failed append stopping the run
 * (S8), and a guard killed mid-run leaving a log that verifies with the run marked interrupted (X2).
 *
 * What runs where: the first refusal and allowed run, the guard killed mid-run (a signal to a process) and
 * the text `audit verify` after it go through the built CLI. The rest (requests, approvals, runs, every
 * `audit verify --json` and `audit log`, the disk-full run) runs guard's whole command line in process
 * (test/helpers/in-process.ts guardIn), on the same store: it saves a Node start per call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BIN, guard, makeWorld, requestIdIn, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

const execFileP = promisify(execFile);
const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let w: World;
const log = (): string => join(w.store, "audit", "events.jsonl");
const lines = async (): Promise<string[]> => (await readFile(log(), "utf8")).split("\n").filter(Boolean);
const events = async (): Promise<Array<{ seq: number; type: string; data: Record<string, unknown> }>> => (await lines()).map((l) => JSON.parse(l));

async function verify(extra: string[] = []): Promise<{ code: number; out: { ok: boolean; firstBad: { seq: number } | null; interrupted: unknown[]; problems: string[]; head: { seq: number; hash: string } } }> {
  const r = await guardIn(w, ["audit", "verify", "--json", ...extra]);
  return { code: r.code, out: JSON.parse(r.stdout) };
}

async function approvedRun(tag: string): Promise<string> {
  const args = ["./maintenance/purge-lb-state.sh", `--ticket=${tag}`];
  const r = await guardIn(w, ["run", "--confirm", "production", "--reason", tag, "--", ...args], { as: "alice", env: PROD });
  const id = requestIdIn(r.stderr);
  expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
  expect((await guardIn(w, ["run", "--confirm", "production", "--", ...args], { as: "alice", env: PROD })).code).toBe(0);
  return id;
}

beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

describe("every decision is recorded", () => {
  it("refusals, allowed runs, requests, approvals, consumption and runs all land in the chain", async () => {
    await guard(w, ["run", "--env", "staging", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    await guard(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    const id = await approvedRun("first");
    const types = (await events()).map((e) => e.type);
    expect(types).toEqual(["run.refused", "run.started", "run.finished", "request.created", "approval.recorded", "run.intent", "request.consumed", "run.started", "run.finished"]);
    const refused = (await events())[0]!;
    expect(refused.data.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/conflicting target/)]));
    expect(refused.data.evidence).toBeDefined();
    const v = await verify();
    expect(v.code).toBe(0);
    expect(v.out.ok).toBe(true);
    expect(v.out.head.seq).toBe(9);
    const filtered = await guardIn(w, ["audit", "log", "--json", "--request", id]);
    expect(filtered.stdout.trim().split("\n").map((l) => JSON.parse(l).type)).toEqual(["request.created", "approval.recorded", "run.intent", "request.consumed", "run.started", "run.finished"]);
  });

  it("T4: a reason carrying a JSON line is just data; the chain stays valid", async () => {
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", 'x\n{"decision":"allow"}', "--", "./maintenance/purge-lb-state.sh", "--ticket=t4"], { as: "alice", env: PROD });
    expect(r.code).toBe(75);
    expect((await lines()).every((l) => !l.startsWith('{"decision"'))).toBe(true);
    expect((await verify()).code).toBe(0);
  });
});

describe("tampering is detected", () => {
  it("S6: an event edited mid-chain is reported by sequence number (65)", async () => {
    const original = await readFile(log(), "utf8");
    const all = await lines();
    const second = JSON.parse(all[1]!);
    second.data.argv = ["./maintenance/report-lb-state.sh", "--harmless"];
    all[1] = JSON.stringify(second);
    await writeFile(log(), `${all.join("\n")}\n`);
    try {
      const v = await verify();
      expect(v.code).toBe(65);
      expect(v.out.firstBad?.seq).toBe(2);
    } finally {
      await writeFile(log(), original);
    }
  });

  it("S7: reordered events are detected; a cut tail only against an anchor", async () => {
    const original = await readFile(log(), "utf8");
    try {
      const all = await lines();
      [all[2], all[3]] = [all[3]!, all[2]!];
      await writeFile(log(), `${all.join("\n")}\n`);
      expect((await verify()).code).toBe(65);

      await writeFile(log(), original);
      const head = (await verify()).out.head;
      const kept = (await lines()).slice(0, -2);
      await writeFile(log(), `${kept.join("\n")}\n`);
      // Without an anchor a shorter chain is still a valid chain…
      const plain = await verify();
      expect(plain.out.firstBad).toBeNull();
      // …against the anchor recorded earlier, it is behind.
      const anchored = await verify(["--anchor", `${head.seq}:${head.hash}`]);
      expect(anchored.code).toBe(65);
      expect(anchored.out.problems.join("\n")).toMatch(/behind anchor|truncat/i);
    } finally {
      await writeFile(log(), original);
    }
  });

  it("S3: deleting a consumption record to replay an approval is refused (65) and caught by verify", async () => {
    const id = await approvedRun("s3");
    await rm(join(w.store, "consumed", `${id}.json`));
    const replay = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: PROD });
    expect(replay.code).toBe(65);
    expect(replay.stdout).toBe("");
    const v = await verify();
    expect(v.code).toBe(65);
    expect(v.out.problems.join("\n")).toMatch(new RegExp(`${id}.*(deleted|no consumption record)`));
  });
});

describe("failures of the log itself", () => {
  // A full disk is the honest way to make an append fail for root (chmod does not stop root): a tiny
  // tmpfs, filled up. Mounting needs root, which CI has.
  const canMount = process.getuid?.() === 0;
  it.runIf(canMount)("S8: when the audit log cannot be written (disk full), nothing runs (74)", async () => {
    const w2 = await makeWorld();
    const mnt = join(w2.dir, "full");
    await mkdir(mnt);
    await execFileP("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]);
    try {
      const env = { GUARD_STORE: `file:${join(mnt, "store")}` };
      const marker = join(w2.dir, "ran");
      await writeFile(join(w2.dir, "maintenance", "touch.sh"), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
      expect((await guardIn(w2, ["run", "--", "./maintenance/report-lb-state.sh"], { env })).code).toBe(0);
      await execFileP("sh", ["-c", `dd if=/dev/zero of=${join(mnt, "filler")} bs=4k 2>/dev/null || true`]);
      const r = await guardIn(w2, ["run", "--", "./maintenance/touch.sh"], { env });
      expect(r.code).toBe(74);
      expect(existsSync(marker)).toBe(false);
      expect(r.stderr).toMatch(/nothing was run|audit/i);
    } finally {
      await execFileP("umount", [mnt]).catch(() => undefined);
      await w2.cleanup();
    }
  });

  it("X2: a guard killed with SIGKILL mid-run leaves a log that verifies, with the run marked interrupted", async () => {
    // A fresh world: the tampering tests above left this one's store deliberately damaged.
    await w.cleanup();
    w = await makeWorld();
    const started = join(w.dir, "started");
    await writeFile(join(w.dir, "maintenance", "slow.sh"), `#!/bin/sh\ntouch ${started}\nsleep 10\n`, { mode: 0o755 });
    const child = spawn(process.execPath, [BIN, "run", "--", "./maintenance/slow.sh"], { cwd: w.dir, env: { ...w.env }, stdio: "ignore" });
    const deadline = Date.now() + 15_000;
    while (!existsSync(started)) {
      if (Date.now() > deadline) throw new Error("slow.sh never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    const v = await verify();
    expect(v.code).toBe(0);
    expect(v.out.ok).toBe(true);
    expect(v.out.interrupted).toHaveLength(1);
    const text = await guard(w, ["audit", "verify"]);
    expect(text.stdout).toMatch(/interrupted/);
  });
});
