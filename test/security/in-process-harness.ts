/**
 * The fault harness's read-outs (../fault/harness.ts) with guard run in the test process (guardIn,
 * ../helpers/in-process.ts) instead of the built CLI: the same arguments, people, environment and
 * result, without a Node process per call. For the security suites' setup and checks that need no real
 * process; the calls that do (a real terminal-less stdin, the bundle itself) use the harness's guardRun.
 */
import { expect } from "vitest";
import { requestIdIn, type GuardResult, type World } from "../e2e/world.js";
import { guardIn } from "../helpers/in-process.js";
import { PROD, PURGE, type VerifyReport } from "../fault/harness.js";

export interface InProcessInvocation {
  as?: string;
  env?: Record<string, string | undefined>;
}

/** guard ARGS in process, as `as`, in the world's directory, no terminal, stdin /dev/null (as guardRun). */
export function guardRunIn(w: World, args: string[], o: InProcessInvocation = {}): Promise<GuardResult> {
  return guardIn(w, args, { as: o.as, env: o.env, stdin: "null" });
}

/** alice asks for the purge with a unique tag; bob approves (as the harness's approvedRequest). */
export async function approvedRequestIn(w: World, tag: string, env: Record<string, string> = {}): Promise<string> {
  const asked = await guardRunIn(w, ["run", "--confirm", "production", "--reason", `fault ${tag}`, "--", PURGE, tag], { as: "alice", env: { ...PROD, ...env } });
  expect(asked.code, asked.stderr).toBe(75);
  const id = requestIdIn(asked.stderr);
  const approved = await guardRunIn(w, ["approve", id, "--yes"], { as: "bob", env });
  expect(approved.code, approved.stderr).toBe(0);
  return id;
}

/** `guard run --request ID --confirm production` as alice against production (as the harness's runRequest). */
export function runRequestIn(w: World, id: string, o: InProcessInvocation = {}): Promise<GuardResult> {
  return guardRunIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", ...o, env: { ...PROD, ...o.env } });
}

/** `guard audit verify --json` and its report (as the harness's auditVerify). */
export async function auditVerifyIn(w: World, env: Record<string, string> = {}): Promise<VerifyReport> {
  const r = await guardRunIn(w, ["audit", "verify", "--json"], { env });
  let report: VerifyReport["report"];
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = null; // verify could not produce a report at all
  }
  return { code: r.code, report, stderr: r.stderr };
}

/** The request's status as `guard show --json` reports it, or null when show itself fails (as the harness's statusOf). */
export async function statusOfIn(w: World, id: string, env: Record<string, string> = {}): Promise<string | null> {
  const r = await guardRunIn(w, ["show", id, "--json"], { as: "alice", env });
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as { status: string }).status;
}
