/**
 * `guard run` refusals in process, as a table: for each command line and environment, the exit code,
 * the status line, what reached stdout (nothing), and the audit events the refusal left in the store —
 * with the memory store, a fixed clock and no terminal. Nothing here runs a command: a run that is
 * allowed, and everything at a terminal or under a signal, stays end to end (test/e2e/run.test.ts,
 * terminal.test.ts).
 *
 * These carry what end-to-end tests of the built CLI once checked (test/e2e/run.test.ts "E9: a wrapper…",
 * "E2: a look-alike environment name", "E5: --env staging while DATABASE_URL says production", "X5: a
 * command that does not exist"). test/e2e/run.test.ts keeps "denies a deny rule…" as the built CLI's
 * refusal: its stdout empty because the command really did not run, and the status line last on stderr.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { runCommand } from "../../src/commands/run.js";
import type { RunOptions } from "../../src/commands/options.js";
import type { AuditEvent } from "../../src/core/types.js";
import { openMemoryStore } from "../../src/adapters/store/memory.js";
import { exitCodeOf, type TestRuntime } from "../helpers/runtime.js";
import { makeProject, NOW, type Project } from "./project.js";

let p: Project;
beforeAll(async () => {
  p = await makeProject();
}, 30_000);
afterAll(async () => p?.cleanup());

const PROD = { DATABASE_URL: "postgres://prod-db.internal/elb" };

interface Row {
  name: string;
  argv: string[];
  opts?: RunOptions;
  env?: Record<string, string>;
  code: number;
  status: string;
  stderr: RegExp;
  /** Text stderr must also name (the evidence of a conflict, say). */
  names?: string[];
  /** The audit events the refusal leaves: types in order, and the refusal code of the last. */
  events: string[];
  refusal?: string;
}

const rows: Row[] = [
  { name: "a deny rule", argv: ["./maintenance/migrate-lb-schema.sh", "--drop-all"], env: PROD, code: 77, status: "denied", stderr: /dropping schema in production runs only from the release pipeline/, events: ["run.refused"], refusal: "policy-deny" },
  { name: "E9: a wrapper that hides its command", argv: ["sh", "-c", "./maintenance/purge-lb-state.sh"], env: PROD, code: 77, status: "denied", stderr: /wrapper|hides/i, events: ["run.refused"] },
  { name: "E5: --env staging against a production DATABASE_URL: a conflict naming all the evidence", argv: ["./maintenance/report-lb-state.sh"], opts: { env: "staging" }, env: PROD, code: 77, status: "denied", stderr: /conflicting target/, names: ["DATABASE_URL", "--env"], events: ["run.refused"] },
  { name: "E2: a look-alike environment name", argv: ["./maintenance/report-lb-state.sh"], opts: { env: "prod\u0443ction" }, env: PROD, code: 64, status: "usage", stderr: /environment/, events: ["run.refused"], refusal: "usage" },
  { name: "E2: a Cyrillic о in --env prоd is named by its code point", argv: ["./maintenance/report-lb-state.sh"], opts: { env: "pr\u043ed" }, code: 64, status: "usage", stderr: /U\+043E/, events: ["run.refused"], refusal: "usage" },
  { name: "X5: a command that does not exist is 127, before the production deny it would get", argv: ["./maintenance/nope.sh"], env: PROD, code: 127, status: "not-found", stderr: /not found/, names: ["nope.sh"], events: [] },
  { name: "no command at all", argv: [], code: 64, status: "usage", stderr: /no command given/, events: ["run.refused"], refusal: "usage" },
  { name: "--wait that is not a duration: refused before anything is read", argv: ["./maintenance/report-lb-state.sh"], opts: { wait: "soon" }, code: 64, status: "usage", stderr: /--wait "soon" is not a duration/, events: [] },
  { name: "--request that is not a request id", argv: ["./maintenance/report-lb-state.sh"], opts: { request: "../../x" }, code: 64, status: "usage", stderr: /is not a request id/, events: [] },
  { name: "--break-glass without --reason", argv: ["./maintenance/purge-lb-state.sh"], opts: { breakGlass: true }, env: PROD, code: 64, status: "usage", stderr: /--break-glass needs --reason/, events: [] },
  { name: "break-glass without a terminal", argv: ["./maintenance/purge-lb-state.sh"], opts: { breakGlass: true, reason: "INC-1" }, env: PROD, code: 77, status: "denied", stderr: /break-glass needs a person at a terminal/, events: ["run.refused"] },
  { name: "an approval-gated run without a terminal and without --confirm", argv: ["./maintenance/purge-lb-state.sh"], opts: { reason: "INC-1" }, env: PROD, code: 64, status: "usage", stderr: /pass --confirm production/, events: ["run.refused"] },
];

async function events(rt: TestRuntime): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of openMemoryStore(rt.place, { now: () => NOW }).readAudit()) out.push(e);
  return out;
}

describe("guard run refusals, in process", () => {
  for (const row of rows.map((r, i) => ({ ...r, i }))) it(`${row.name} → ${row.code}`, async () => {
    // A state directory per row: the refusal rate limit (10 a minute) counts per person, not per command.
    const rt = p.runtime({ as: "dave", env: { ...row.env, XDG_STATE_HOME: join(p.home, `state-${row.i}`) } });
    const code = await exitCodeOf(rt, () => runCommand(row.argv, row.opts ?? {}, rt));
    expect(code, rt.stderr()).toBe(row.code);
    expect(rt.stdout()).toBe("");
    expect(rt.stderr()).toMatch(row.stderr);
    for (const n of row.names ?? []) expect(rt.stderr()).toContain(n);
    // The status line comes last, where scripts look for it.
    expect(rt.stderr().trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^guard: status=${row.status} exit=${row.code}$`));
    const log = await events(rt);
    expect(log.map((e) => e.type)).toEqual(row.events);
    for (const e of log) {
      expect(e.time).toBe(new Date(NOW).toISOString()); // the store's clock, the test's fixed one
      expect(e.actor.user).toBe("tester"); // the runtime's login name
    }
    if (row.refusal) expect(log.at(-1)!.data.code).toBe(row.refusal);
    if (row.events.length) expect(log.at(-1)!.data.exitCode).toBe(row.code);
  });

  it("--json: the status is one JSON line, last on stderr; stdout stays empty", async () => {
    const rt = p.runtime({ as: "dave", env: { ...PROD, XDG_STATE_HOME: join(p.home, "state-json") } });
    expect(await exitCodeOf(rt, () => runCommand(["./maintenance/migrate-lb-schema.sh", "--drop-all"], { json: true }, rt))).toBe(77);
    expect(rt.stdout()).toBe("");
    const last = JSON.parse(rt.stderr().trimEnd().split("\n").at(-1)!) as { guard: { status: string; exitCode: number } };
    expect(last.guard.exitCode).toBe(77);
  });

  it("the refusal rate limit: of 12 identical refusals in a minute, 10 are recorded", async () => {
    const place = p.runtime().place;
    const state = join(p.home, "state-limit");
    for (let i = 0; i < 12; i++) {
      const rt = p.runtime({ as: "dave", env: { ...PROD, XDG_STATE_HOME: state }, place });
      expect(await exitCodeOf(rt, () => runCommand(["./maintenance/migrate-lb-schema.sh", "--drop-all"], {}, rt))).toBe(77);
      if (i >= 10) expect(rt.stderr()).toContain("this refusal was not added to the audit log");
    }
    const log: AuditEvent[] = [];
    for await (const e of openMemoryStore(place, { now: () => NOW }).readAudit()) log.push(e);
    expect(log.map((e) => e.type)).toEqual(Array(10).fill("run.refused"));
  });
});
