/**
 * Notifications end to end: the built CLI, real keys, a real HTTP server on 127.0.0.1 as the webhook
 * receiver. Requests, approvals, denials and runs reach the webhooks; a failing or hanging webhook never
 * blocks or changes a run, and is reported on stderr and audited as `notify.failed`.
 *
 * What runs where: the approved run that sends run.started and run.finished goes through the built CLI.
 * Every other call runs guard's whole command line in process (test/helpers/in-process.ts guardIn), against
 * the same receiver (its server answers from this process's event loop while guard awaits): it saves a Node
 * start per call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, standardPolicy, type World } from "../e2e/world.js";
import { guardIn } from "../helpers/in-process.js";
import { closedPort, startHookServer, type HookServer } from "./hook-server.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let w: World;
let server: HookServer;

beforeAll(async () => {
  server = await startHookServer();
  w = await makeWorld();
  // A purge (so it needs approval) that notes when it ran and exits 3.
  await writeFile(join(w.dir, "maintenance", "purge-and-fail.sh"), '#!/bin/sh\nnode -e "process.stdout.write(String(Date.now()))" > "$1"\necho "purged"\nexit 3\n', { mode: 0o755 });
});
afterAll(async () => {
  await server.close();
  await w.cleanup();
});

/** Replace the world's policy: the standard one plus these webhooks. */
async function useWebhooks(yaml: string): Promise<void> {
  await writeFile(join(w.dir, "policies", "guard.yaml"), standardPolicy(w.people, `notifications:\n  webhooks:\n${yaml}`));
}

let ticket = 0;
const purge = (): string[] => ["./maintenance/purge-lb-state.sh", `--ticket=N-${++ticket}`];

async function requestFor(argv: string[]): Promise<string> {
  const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "stale <!channel> state", "--", ...argv], { as: "alice", env: PROD });
  expect(r.code, r.stderr).toBe(75);
  return requestIdIn(r.stderr);
}

type Body = { event: string; request: { id: string; status: string }; [k: string]: unknown };
const bodies = (prefix: string, id: string): Body[] => server.to(prefix).map((r) => r.json as Body).filter((b) => b.request?.id === id);

async function auditEvents(): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const text = await readFile(join(w.store, "audit", "events.jsonl"), "utf8");
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

describe("webhooks are told about requests, approvals and runs", () => {
  beforeAll(async () => {
    await useWebhooks(
      [
        `    - { name: all-json, url: "${server.base}/ok/json" }`,
        `    - { name: ops-slack, url: "${server.base}/ok/slack", format: slack, events: [request.created], environments: [production] }`,
        `    - { name: staging-only, url: "${server.base}/ok/staging", environments: [staging] }`,
        "",
      ].join("\n"),
    );
  });

  it("request created → the JSON hook gets it, the Slack hook gets the approve line, a staging-only hook nothing", async () => {
    const id = await requestFor(purge());
    const [created] = bodies("/ok/json", id);
    expect(created).toMatchObject({ event: "request.created", request: { id, environment: "production", status: "pending", requester: { principal: "alice" }, reason: "stale <!channel> state" }, approveCommand: `guard approve ${id}` });
    const slack = server.to("/ok/slack").map((r) => r.json as { text: string; blocks: unknown[] }).find((b) => b.text.includes(id));
    expect(slack?.text).toContain(`guard approve ${id}`);
    expect(JSON.stringify(slack)).toContain("stale &lt;!channel&gt; state");
    expect(server.to("/ok/staging")).toEqual([]);
  });

  it("approve → request.approved with the approver; deny → request.denied", async () => {
    const id = await requestFor(purge());
    const ok = await guardIn(w, ["approve", id, "--yes", "--comment", "fine"], { as: "bob" });
    expect(ok.code, ok.stderr).toBe(0);
    expect(bodies("/ok/json", id).map((b) => b.event)).toEqual(["request.created", "request.approved"]);
    expect(bodies("/ok/json", id)[1]).toMatchObject({ request: { status: "approved" }, approver: { principal: "bob", comment: "fine" } });

    const other = await requestFor(purge());
    const no = await guardIn(w, ["deny", other, "--reason", "not during the sale"], { as: "bob" });
    expect(no.code, no.stderr).toBe(0);
    expect(bodies("/ok/json", other).at(-1)).toMatchObject({ event: "request.denied", request: { status: "denied" }, approver: { principal: "bob", comment: "not during the sale" } });
  });

  it("the run → run.started, then run.finished with its exit status; the command's stdout stays clean", async () => {
    const argv = purge();
    const id = await requestFor(argv);
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    // The built CLI runs it and notifies (the other calls in this file run in process).
    const run = await guard(w, ["run", "--confirm", "production", "--", ...argv], { as: "alice", env: PROD });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`purged ${argv[1]}\n`);
    const events = bodies("/ok/json", id);
    expect(events.map((b) => b.event)).toEqual(["request.created", "request.approved", "run.started", "run.finished"]);
    expect(events[3]).toMatchObject({ request: { status: "consumed" }, run: { exitCode: 0, signal: null, durationMs: expect.any(Number) } });
    expect((events[2]!.run as { id: string }).id).toBe((events[3]!.run as { id: string }).id);
  });

  it("an allowed run, with no request behind it, notifies nobody", async () => {
    const before = server.received.length;
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh", "--quiet-check"], { env: PROD });
    expect(r.code).toBe(0);
    expect(server.received.length).toBe(before);
  });
});

describe("a failing webhook never blocks a run", () => {
  beforeAll(async () => {
    await useWebhooks(
      [
        `    - { name: broken, url: "${server.base}/fail/x?token=SECRETQUERY", events: [run.started, run.finished] }`,
        `    - { name: stuck, url: "${server.base}/hang/x", events: [run.started], timeout: 3s }`,
        "",
      ].join("\n"),
    );
  });

  it("HTTP 500 and a hang past the timeout: the command runs at once, guard exits with its status, both failures warned and audited", async () => {
    const marker = join(w.dir, `ran-${++ticket}`);
    const argv = ["./maintenance/purge-and-fail.sh", marker];
    const id = await requestFor(argv);
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);

    const run = await guardIn(w, ["run", "--confirm", "production", "--", ...argv], { as: "alice", env: PROD });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toBe("purged\n");
    // The command did not wait for the stuck webhook: it ran well before that webhook's 3s timeout.
    const stuckArrived = server.to("/hang/x").at(-1)!.at;
    const ranAt = Number(await readFile(marker, "utf8"));
    expect(ranAt - stuckArrived).toBeLessThan(2500);

    expect(run.stderr).toContain("guard: warning: webhook broken failed: HTTP 500");
    expect(run.stderr).toContain("guard: warning: webhook stuck failed: timed out after 3s");
    expect(run.stderr).not.toMatch(/SECRETQUERY|secret internal error/);
    const failed = (await auditEvents()).filter((e) => e.type === "notify.failed" && e.data.requestId === id);
    expect(failed.map((e) => e.data).sort((a, b) => `${a.webhook}${a.event}`.localeCompare(`${b.webhook}${b.event}`))).toEqual([
      { webhook: "broken", event: "run.finished", error: "HTTP 500", requestId: id },
      { webhook: "broken", event: "run.started", error: "HTTP 500", requestId: id },
      { webhook: "stuck", event: "run.started", error: "timed out after 3s", requestId: id },
    ]);
    const v = await guardIn(w, ["audit", "verify", "--json"]);
    expect(v.code, v.stdout).toBe(0);
  });

  it("a request whose webhook is unreachable is still created (exit 75), with the failure reported", async () => {
    await useWebhooks(`    - { name: gone, url: "http://127.0.0.1:${await closedPort()}/hook" }\n`);
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "x", "--", ...purge()], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(75);
    expect(r.stderr).toMatch(/guard: warning: webhook gone failed: connection failed \(ECONNREFUSED\)/);
    const id = requestIdIn(r.stderr);
    expect((await auditEvents()).some((e) => e.type === "notify.failed" && e.data.requestId === id && e.data.event === "request.created")).toBe(true);
  });
});

describe("a bad webhook in the policy", () => {
  it("is a policy error (78) at file:line:col, and the URL's secret is not printed", async () => {
    await useWebhooks("    - name: ops\n      url: http://bot:hunter2@hooks.example.com/services/SECRETPATH\n");
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(78);
    const lines = standardPolicy(w.people, "notifications:\n  webhooks:\n    - name: ops\n").split("\n").length;
    expect(r.stderr).toContain(`guard.yaml:${lines}:12: error[bad-webhook-url]`);
    expect(r.stderr).not.toMatch(/hunter2|SECRETPATH/);
  });
});
