/**
 * The fault harness's read-outs (../fault/harness.ts) with guard's command line run in the test process
 * (guardIn, ../helpers/in-process.ts) instead of the built CLI: the same arguments, people, environment
 * and result, without a Node process per call. For the security suites' setup and checks that need no
 * real process; the calls that do (a real terminal-less stdin, the bundle itself) use the harness as is.
 */
import type { GuardResult, World } from "../e2e/world.js";
import { approvedRequest, auditVerify, guardRun, runRequest, statusOf, type VerifyReport } from "../fault/harness.js";

const IN_PROCESS = { inProcess: true } as const;
type Who = { as?: string; env?: Record<string, string | undefined> };

export const guardRunIn = (w: World, args: string[], o: Who = {}): Promise<GuardResult> => guardRun(w, args, { ...o, ...IN_PROCESS });
export const approvedRequestIn = (w: World, tag: string, env: Record<string, string> = {}): Promise<string> => approvedRequest(w, tag, env, IN_PROCESS);
export const runRequestIn = (w: World, id: string, o: Who = {}): Promise<GuardResult> => runRequest(w, id, { ...o, ...IN_PROCESS });
export const auditVerifyIn = (w: World, env: Record<string, string> = {}): Promise<VerifyReport> => auditVerify(w, env, IN_PROCESS);
export const statusOfIn = (w: World, id: string, env: Record<string, string> = {}): Promise<string | null> => statusOf(w, id, env, IN_PROCESS);
