/**
 * Shared pieces for the fault-injection suites: the built CLI spawned with or without the fault hook
 * (fault-hook.mjs), an approved request made by two real people, and read-outs of what a fault left
 * behind (did the command run, is the approval consumed, what does `guard audit verify` say).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect } from "vitest";
import { BIN, envOf, makeWorld, requestIdIn, type GuardResult, type World } from "../e2e/world.js";

export const HOOK = fileURLToPath(new URL("./fault-hook.mjs", import.meta.url));
export const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };

/** The one script the fault suites run: it appends its arguments to `ran.log` beside the world. */
export const PURGE = "./maintenance/purge-fault.sh";

export async function addPurgeScript(w: World): Promise<void> {
  await writeFile(join(w.dir, PURGE), `#!/bin/sh\necho "$*" >> "${join(w.dir, "ran.log")}"\n`, { mode: 0o755 });
}

/** How many times the purge script ran with this exact tag. */
export async function runsOf(w: World, tag: string): Promise<number> {
  const log = await readFile(join(w.dir, "ran.log"), "utf8").catch(() => "");
  return log.split("\n").filter((l) => l === tag).length;
}

export interface FaultSpec {
  at?: number;
  action?: "kill" | "ENOSPC" | "EIO" | "EROFS" | "EAGAIN";
  trace?: string;
}

export interface Invocation {
  as?: string;
  env?: Record<string, string | undefined>;
  fault?: FaultSpec;
  timeoutMs?: number;
  /**
   * Run guard's command line in the test process (guardIn, ../helpers/in-process.ts) instead of the built
   * CLI: the same result without a Node process per call, for setup and checks that need no real process.
   * Not with `fault` or `timeoutMs`, which act on a process.
   */
  inProcess?: boolean;
}

/** How the read-outs below run guard: the built CLI unless said. */
export type Via = Pick<Invocation, "inProcess">;

/** The built CLI, as `as`, in the world's directory, no terminal, stdin /dev/null; optionally with the fault hook. */
export function guardRun(w: World, args: string[], o: Invocation = {}): Promise<GuardResult> {
  if (o.inProcess) {
    if (o.fault || o.timeoutMs !== undefined) throw new Error("guardRun: a fault or a time limit needs the built CLI, not inProcess");
    // Imported here: the fault suites, which only spawn, never load guard's sources.
    return import("../helpers/in-process.js").then(({ guardIn }) => guardIn(w, args, { as: o.as, env: o.env, stdin: "null" }));
  }
  const env = envOf(w, o);
  const nodeArgs: string[] = [];
  if (o.fault) {
    env.GUARD_TEST_FAULT = JSON.stringify(o.fault);
    nodeArgs.push("--import", HOOK);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { cwd: w.dir, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 25_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
}

/** alice asks for the purge with a unique tag; bob approves. Returns the request id and the tag. */
export async function approvedRequest(w: World, tag: string, env: Record<string, string> = {}, via: Via = {}): Promise<string> {
  const asked = await guardRun(w, ["run", "--confirm", "production", "--reason", `fault ${tag}`, "--", PURGE, tag], { as: "alice", env: { ...PROD, ...env }, ...via });
  expect(asked.code, asked.stderr).toBe(75);
  const id = requestIdIn(asked.stderr);
  const approved = await guardRun(w, ["approve", id, "--yes"], { as: "bob", env, ...via });
  expect(approved.code, approved.stderr).toBe(0);
  return id;
}

/** `guard run --request ID --confirm production` as alice against production. */
export function runRequest(w: World, id: string, o: Invocation = {}): Promise<GuardResult> {
  return guardRun(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", ...o, env: { ...PROD, ...o.env } });
}

export interface VerifyReport {
  code: number;
  /** Null when verify could not produce a report at all. */
  report: {
    ok: boolean;
    head: { seq: number; hash: string } | null;
    interrupted: Array<{ runId: string; seq: number }>;
    /** Approvals used up by runs that never started (guard stopped between consuming and exec). */
    consumedNeverStarted: string[];
    problems: string[];
  } | null;
  stderr: string;
}

export async function auditVerify(w: World, env: Record<string, string> = {}, via: Via = {}): Promise<VerifyReport> {
  const r = await guardRun(w, ["audit", "verify", "--json"], { env, ...via });
  let report: VerifyReport["report"];
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = null; // verify could not produce a report at all
  }
  return { code: r.code, report, stderr: r.stderr };
}

/** The request's status as `guard show --json` reports it, or null when show itself fails. */
export async function statusOf(w: World, id: string, env: Record<string, string> = {}, via: Via = {}): Promise<string | null> {
  const r = await guardRun(w, ["show", id, "--json"], { as: "alice", env, ...via });
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as { status: string }).status;
}

/** Whether the file store holds a consumption record (of any content) for the request. */
export function consumedOnDisk(store: string, id: string): boolean {
  return existsSync(join(store, "consumed", `${id}.json`));
}

export interface Step {
  n: number;
  op: string;
  path: string;
}

/** The numbered effectful steps of one invocation, as the hook traced them. */
export async function readTrace(file: string): Promise<Step[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [n, op, path] = line.split("\t");
      return { n: Number(n), op: op!, path: path! };
    });
}

/** The boundaries of an approved run, by what has and has not happened yet. */
export type PointName =
  | "before run.intent is written"
  | "while the consumption record is created"
  | "consumption record written, not yet linked"
  | "consumed, before request.consumed is written"
  | "request.consumed written, before run.started"
  | "right before exec (run.started written)"
  | "after the command ran, before run.finished";

/**
 * The step number of each boundary in a trace of `guard run --request` (faulting step n means: the
 * step does not happen). Found by what the steps touch, so the points follow the code if it moves.
 */
export function stepOf(steps: readonly Step[], name: PointName): number {
  const log = steps.filter((s) => s.op === "write" && s.path.endsWith("/audit/events.jsonl"));
  // The consumption record is written to a temporary file in consumed/, then link()ed to its name.
  const consumed = (op: string) => steps.find((s) => s.op === op && /\/consumed\/\.r-[a-z2-7]{20}\.json\.[0-9a-f]+\.tmp$/.test(s.path));
  const found = {
    "before run.intent is written": log[0],
    "while the consumption record is created": consumed("open"),
    "consumption record written, not yet linked": consumed("link"),
    "consumed, before request.consumed is written": log[1],
    "request.consumed written, before run.started": log[2],
    "right before exec (run.started written)": steps.find((s) => s.op === "spawn"),
    "after the command ran, before run.finished": log[3],
  }[name];
  if (!found) throw new Error(`step "${name}" not found in the trace:\n${steps.map((s) => `${s.n} ${s.op} ${s.path}`).join("\n")}`);
  return found.n;
}

export interface Outcome {
  tag: string;
  id: string;
  store: string;
  env: Record<string, string>;
  code: number;
  signal: string | null;
  stderr: string;
  ran: number;
}

/**
 * A fresh store, an approved request in it (made as `via` says), and `guard run --request` with the
 * fault (always the built CLI).
 */
export async function faultedRun(w: World, tag: string, fault: FaultSpec, via: Via = {}): Promise<Outcome> {
  const store = join(w.dir, `store-${tag.replace(/[^a-z0-9-]/gi, "_")}`);
  const env = { GUARD_STORE: `file:${store}` };
  const id = await approvedRequest(w, tag, env, via);
  const r = await runRequest(w, id, { env, fault });
  return { tag, id, store, env, code: r.code, signal: r.signal, stderr: r.stderr, ran: await runsOf(w, tag) };
}

/** A traced clean run of an approved request (in a store of its own): the steps to fault. */
export async function traceApprovedRun(w: World): Promise<Step[]> {
  const env = { GUARD_STORE: `file:${join(w.dir, "store-trace")}` };
  const id = await approvedRequest(w, "--ticket=trace", env);
  const trace = join(w.dir, "trace.tsv");
  const r = await runRequest(w, id, { env, fault: { trace } });
  expect(r.code, r.stderr).toBe(0);
  return readTrace(trace);
}

/**
 * A world for a suite of faulted runs (registered as the suite's beforeAll/afterAll): the purge script,
 * and the numbered steps of one traced approved run. `faulted(point, action)` runs a fresh approved
 * request with that fault at that point, each under its own ticket `<tag>-N`. `via` is how the faulted
 * runs' approved requests are made (the built CLI unless said). The traced run, its request and the
 * faulted runs are always the built CLI: the step numbers must be the same in the trace and in a faulted
 * run, and the built CLI's first run in a world also writes its policy cache entry (its key names the
 * build, so an in-process guard's entry is another), which the trace's request does here, as before.
 */
export function tracedWorld(tag: string, via: Via = {}): { world(): World; faulted(name: PointName, action: FaultSpec["action"]): Promise<Outcome> } {
  let w: World | undefined;
  let steps: Step[] = [];
  let counter = 0;
  beforeAll(async () => {
    w = await makeWorld();
    await addPurgeScript(w);
    steps = await traceApprovedRun(w);
  });
  afterAll(async () => w?.cleanup());
  const world = (): World => w ?? expect.fail("the traced world is made in beforeAll");
  return { world, faulted: (name, action) => faultedRun(world(), `--ticket=${tag}-${++counter}`, { at: stepOf(steps, name), action }, via) };
}
