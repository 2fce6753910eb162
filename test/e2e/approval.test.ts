/**
 * Two-person approvals end to end, with real ssh-keygen keys: request, approval by a second person,
 * the single run, and every way to cheat that SECURITY-CASES lists for the whole program.
 *
 * The whole command line runs in process (guardIn, test/helpers/in-process.ts: the real file store,
 * ssh-keygen signing and clock, a wrapped command really run) for each cheat and refusal. Through the
 * built CLI: the main flow (request → approve → run once → replay refused → consumed), which proves the
 * real bin does it end to end, and A12's 20 concurrent runs, which need 20 processes racing for one
 * approval (guardIn runs one guard at a time).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appendFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, standardPolicy, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = ["./maintenance/purge-lb-state.sh", "--region", "us-east-1"];

// Each test works on its own run (a distinct --ticket argument): an approved request for the same exact
// run is found and used by later runs, by design, so tests must not share one.
let incident = 0;
let purge: string[] = PURGE;
beforeEach(() => {
  incident++;
  purge = [...PURGE, `--ticket=INC-${incident}`];
});

/** How a step runs guard: in process unless a test says the built CLI (`guard`). */
type Runner = typeof guardIn;

async function requested(args = purge, env: Record<string, string> = PROD, as = "alice", via: Runner = guardIn): Promise<string> {
  const r = await via(w, ["run", "--confirm", "production", "--reason", `INC-${incident} stale state`, "--", ...args], { env, as });
  expect(r.code, r.stderr).toBe(75);
  return requestIdIn(r.stderr);
}

async function approve(id: string, as = "bob", via: Runner = guardIn): Promise<void> {
  const r = await via(w, ["approve", id, "--yes"], { as });
  expect(r.code, r.stderr).toBe(0);
}

describe("the approval flow without a terminal", () => {
  it("request → second person approves → the same command runs once → a replay is refused", async () => {
    const id = await requested(purge, PROD, "alice", guard);
    await approve(id, "bob", guard);
    const run = await guard(w, ["run", "--confirm", "production", "--", ...purge], { env: PROD, as: "alice" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`purged --region us-east-1 --ticket=INC-${incident}\n`);
    const again = await guard(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
    expect(again.code).toBe(77);
    expect(again.stderr).toMatch(/already been used/);
    const show = JSON.parse((await guard(w, ["show", id, "--json"], { as: "alice" })).stdout);
    expect(show).toMatchObject({ id, status: "consumed" });
  });

  it("I4: re-running the same command after its approval was used needs a new approval (75)", async () => {
    const id = await requested();
    await approve(id);
    expect((await guardIn(w, ["run", "--confirm", "production", "--", ...purge], { env: PROD, as: "alice" })).code).toBe(0);
    const rerun = await guardIn(w, ["run", "--reason", "again", "--confirm", "production", "--", ...purge], { env: PROD, as: "alice" });
    expect(rerun.code).toBe(75);
    expect(requestIdIn(rerun.stderr)).not.toBe(id);
  });

  it("A7: the requester cannot approve their own request", async () => {
    const id = await requested();
    const r = await guardIn(w, ["approve", id, "--yes"], { as: "alice" });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/second, distinct person/);
  });

  it("only members of the required group count: a DBA cannot approve an SRE-only purge", async () => {
    const id = await requested();
    const r = await guardIn(w, ["approve", id, "--yes"], { as: "carol" });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/not eligible/);
  });

  it("the requester can withdraw their own request with a signed deny", async () => {
    const id = await requested();
    const r = await guardIn(w, ["deny", id, "--reason", "wrong region, withdrawn"], { as: "alice" });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "alice" })).stdout).status).toBe("denied");
  });

  it("approving without a terminal needs --yes (64)", async () => {
    const id = await requested();
    const r = await guardIn(w, ["approve", id], { as: "bob" });
    expect(r.code).toBe(64);
  });

  it("a signed deny ends the request", async () => {
    const id = await requested();
    expect((await guardIn(w, ["deny", id, "--reason", "not during the incident"], { as: "bob" })).code).toBe(0);
    const r = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/denied by bob/);
    // Asking again with the same words is refused; a new reason makes a new request.
    const same = await guardIn(w, ["run", "--confirm", "production", "--reason", `INC-${incident} stale state`, "--", ...purge], { env: PROD, as: "alice" });
    expect(same.code).toBe(77);
    const fresh = await guardIn(w, ["run", "--confirm", "production", "--reason", "INC-9000 the incident is over now", "--", ...purge], { env: PROD, as: "alice" });
    expect(fresh.code).toBe(75);
    expect(requestIdIn(fresh.stderr)).not.toBe(id);
  });

  it("C6: an extra argument is a different run: it needs its own approval", async () => {
    const id = await requested();
    await approve(id);
    const r = await guardIn(w, ["run", "--reason", "x", "--confirm", "production", "--", ...purge, "--no-dry-run"], { env: PROD, as: "alice" });
    expect(r.code).toBe(75);
    expect(requestIdIn(r.stderr)).not.toBe(id);
    const exact = await guardIn(w, ["run", "--request", id, "--confirm", "production", "--", ...purge, "--no-dry-run"], { env: PROD, as: "alice" });
    expect(exact.code).toBe(77);
    expect(exact.stderr).toMatch(/differs from request/);
  });

  it("C4: a script edited after approval is refused (77), naming the field, and the approval is not consumed", async () => {
    const script = join(w.dir, "maintenance", "purge-lb-state.sh");
    const original = await readFile(script, "utf8");
    const id = await requested();
    await approve(id);
    await appendFile(script, "echo 'and one more thing'\n");
    try {
      const r = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
      expect(r.code).toBe(77);
      expect(r.stderr).toMatch(/program\.sha256/);
      expect(r.stdout).toBe("");
    } finally {
      await writeFile(script, original, { mode: 0o755 });
    }
    const show = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "alice" })).stdout);
    expect(show.status).toBe("approved");
  });

  it("C11: LD_PRELOAD set only at run time is a difference (77 with --request)", async () => {
    const id = await requested();
    await approve(id);
    const r = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: { ...PROD, LD_PRELOAD: "/tmp/evil.so" }, as: "alice" });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/env\.LD_PRELOAD/);
  });

  it("E12: a changed DATABASE_URL between request and run is not the approved run", async () => {
    const id = await requested();
    await approve(id);
    const r = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: { DATABASE_URL: "postgres://app@prod-db.other/elb" }, as: "alice" });
    expect(r.code).toBe(77);
  });

  it("C10: piped stdin is refused for a run that needs approval", async () => {
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "x", "--", ...purge], { env: PROD, as: "alice", input: "DROP TABLE lb;\n" });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/standard input is a (pipe|socket)/);
  });

  it("I3: CI=true and GITHUB_ACTIONS=true grant nothing", async () => {
    const r = await guardIn(w, ["run", "--reason", "x", "--confirm", "production", "--", ...purge], { env: { ...PROD, CI: "true", GITHUB_ACTIONS: "true" }, as: "alice" });
    expect(r.code).toBe(75);
  });

  it("a typed confirmation is required without a terminal: --confirm must name the target", async () => {
    const id = await requested();
    await approve(id);
    const missing = await guardIn(w, ["run", "--request", id], { env: PROD, as: "alice" });
    expect(missing.code).toBe(64);
    const wrong = await guardIn(w, ["run", "--request", id, "--confirm", "staging"], { env: PROD, as: "alice" });
    expect(wrong.code).toBe(77);
    const show = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "alice" })).stdout);
    expect(show.status).toBe("approved");
  });

  it("a requester whose key is not in the policy cannot request in a protected environment", async () => {
    const { makePerson } = await import("./world.js");
    const mallory = await makePerson(w.home, "mallory");
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "x", "--", ...purge], { env: { ...PROD, GUARD_KEY: mallory.key } });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/not listed in the policy/);
  });

  it("A14: break-glass without a terminal is refused", async () => {
    const r = await guardIn(w, ["run", "--break-glass", "--reason", "site down", "--", ...purge], { env: PROD, as: "alice" });
    expect(r.code).toBe(77);
    const blank = await guardIn(w, ["run", "--break-glass", "--reason", "  ", "--", ...purge], { env: PROD, as: "alice" });
    expect(blank.code).toBe(64);
  });

  it("S1: a request record edited in the store no longer verifies", async () => {
    const id = await requested();
    await approve(id);
    const file = join(w.store, "requests", `${id}.json`);
    const record = JSON.parse(await readFile(file, "utf8"));
    record.request.argv.push("--everything");
    await rm(file);
    await writeFile(file, JSON.stringify(record), { mode: 0o600 });
    const r = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
    expect([65, 77]).toContain(r.code);
    expect(r.stdout).toBe("");
  });

  it("requests --json lists pending requests; show --json has id and status", async () => {
    const id = await requested();
    const list = (JSON.parse((await guardIn(w, ["requests", "--json"], { as: "bob" })).stdout) as { requests: Array<{ id: string; status: string }> }).requests;
    expect(list.find((x) => x.id === id)?.status).toBe("pending");
    const files = await readdir(join(w.store, "requests"));
    expect(files).toContain(`${id}.json`);
  });
});

describe("A12: single use under a race", () => {
  it("20 concurrent runs of one approved request: exactly one executes", async () => {
    const marker = join(w.dir, "race-marker");
    await writeFile(join(w.dir, "maintenance", "purge-race.sh"), `#!/bin/sh\necho ran >> ${marker}\n`, { mode: 0o755 });
    const args = ["./maintenance/purge-race.sh"];
    const id = await requested(args);
    await approve(id);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => guard(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" })),
    );
    const codes = results.map((r) => r.code).sort();
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect(codes.filter((c) => c === 77)).toHaveLength(19);
    expect((await readFile(marker, "utf8")).trim().split("\n")).toEqual(["ran"]);
  });
});

describe("a request nobody else could approve", () => {
  it("is refused at once (77), and no request is created", async () => {
    const w2 = await makeWorld({
      policy: (people) =>
        standardPolicy(people).replace(
          "rules:\n",
          'rules:\n  - name: dba-only\n    match: { environments: [production], commands: ["maintenance/migrate-*.sh"] }\n    require: { approvals: 1, from: [dba] }\n',
        ),
    });
    try {
      // bob is the other DBA, so carol's request can be approved …
      const ok = await guardIn(w2, ["run", "--", "./maintenance/migrate-lb-schema.sh"], { as: "carol", env: PROD });
      expect(ok.code, ok.stderr).toBe(75);
      // … but with approvals: 2 from dba, only bob remains for carol: refused before anything is stored.
      const w3 = await makeWorld({
        policy: (people) =>
          standardPolicy(people).replace(
            "rules:\n",
            'rules:\n  - name: two-dbas\n    match: { environments: [production], commands: ["maintenance/migrate-*.sh"] }\n    require: { approvals: 2, from: [dba] }\n',
          ),
      });
      try {
        const r = await guardIn(w3, ["run", "--", "./maintenance/migrate-lb-schema.sh"], { as: "carol", env: PROD });
        expect(r.code).toBe(77);
        expect(r.stderr).toMatch(/nobody else can approve this run/);
        expect(JSON.parse((await guardIn(w3, ["requests", "--all", "--json"], { as: "bob" })).stdout)).toEqual({ requests: [], damaged: [] });
      } finally {
        await w3.cleanup();
      }
    } finally {
      await w2.cleanup();
    }
  });
});
