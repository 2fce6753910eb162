/**
 * Live identity with a real PostgreSQL (SECURITY E22): two databases declare who they are
 * (`ALTER DATABASE … SET guard.environment`), and guard asks before anything runs. The URLs carry
 * `hostaddr=127.0.0.1`, so a name like stg-db.internal reaches the local server without DNS — exactly
 * the "alias that looks like staging" the probe exists to catch.
 *
 * The first test (staging answering as staging: check --json and a run) goes through the built CLI as
 * the file's end-to-end proof; the refusals (an alias reaching production, an unreachable target, an
 * identity changed after approval) run guard's whole command line in process (guardIn,
 * test/helpers/in-process.ts), the probes really spawned with the invocation's environment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guard, makeWorld, requestIdIn, type Person, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { createTestDatabase, sql, ADMIN_URL } from "../helpers/pg.js";

let w: World;
let prod: Awaited<ReturnType<typeof createTestDatabase>>;
let stg: Awaited<ReturnType<typeof createTestDatabase>>;

/** While `fn` runs, the production database answers as a restored copy would (elb-prod-restored); then as itself again. */
async function asRestoredCopy(fn: () => Promise<void>): Promise<void> {
  await sql(ADMIN_URL, `ALTER DATABASE ${prod.name} SET guard.environment = 'elb-prod-restored'`);
  try {
    await fn();
  } finally {
    await sql(ADMIN_URL, `ALTER DATABASE ${prod.name} SET guard.environment = 'elb-prod-7f3a'`);
  }
}

/** The approval of `id` was not used: with the original identity back, it runs (once). */
async function runsOnceMore(id: string, env: Record<string, string>): Promise<void> {
  const run = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env, as: "alice" });
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toContain("purged");
}

const PROBE = `["sh", "-c", "psql \\"$DATABASE_URL\\" -XAtc 'show guard.environment'"]`;

function policy(people: Record<string, Person>): string {
  const p = (n: string): string => JSON.stringify(people[n]!.line);
  return `version: 1
environments:
  production:
    protected: true
    detect: [{ env: DATABASE_URL, matches: "*prod-db.*" }]
    identity:
      - command: ${PROBE}
        equals: elb-prod-7f3a
        timeout: 10s
  staging:
    detect: [{ env: DATABASE_URL, matches: "*stg-db.*" }]
    identity:
      - command: ${PROBE}
        equals: elb-stg-21c9
        timeout: 10s
  development:
    detect: [{ env: DATABASE_URL, matches: "*localhost*" }]
default_environment: development
principals:
  alice: { keys: [${p("alice")}], groups: [sre] }
  bob: { keys: [${p("bob")}], groups: [sre] }
rules:
  - name: purge-needs-an-sre
    match: { environments: [production], commands: ["maintenance/purge-*.sh"] }
    require: { approvals: 1, from: [sre], reason: true, confirm: true, ttl: 30m }
`;
}

const url = (name: string, host: string, port = 5432): string =>
  `postgresql://${new URL(ADMIN_URL).username || "postgres"}@${host}:${port}/${name}?hostaddr=127.0.0.1&connect_timeout=3`;

beforeAll(async () => {
  w = await makeWorld({ policy, names: ["alice", "bob"] });
  prod = await createTestDatabase();
  stg = await createTestDatabase();
  await sql(ADMIN_URL, `ALTER DATABASE ${prod.name} SET guard.environment = 'elb-prod-7f3a'`);
  await sql(ADMIN_URL, `ALTER DATABASE ${stg.name} SET guard.environment = 'elb-stg-21c9'`);
});
afterAll(async () => {
  await prod?.drop();
  await stg?.drop();
  await w?.cleanup();
});

const PURGE = ["./maintenance/purge-lb-state.sh", "--region", "us-east-1"];

describe("the target is asked who it is", () => {
  it("staging that answers as staging runs, and the answer is shown as evidence", async () => {
    const env = { DATABASE_URL: url(stg.name, "stg-db.internal") };
    const check = await guard(w, ["check", "--json", "--", ...PURGE], { env, as: "alice" });
    const out = JSON.parse(check.stdout);
    expect(out.environment, check.stdout).toBe("staging");
    expect(out.evidence).toContainEqual(expect.objectContaining({ source: "identity", value: "elb-stg-21c9", environment: "staging" }));
    const run = await guard(w, ["run", "--", ...PURGE], { env, as: "alice" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("purged");
  });

  it("a name that looks like staging but reaches the production database is refused before anything runs, naming production", async () => {
    const env = { DATABASE_URL: url(prod.name, "stg-db.internal") };
    const run = await guardIn(w, ["run", "--", ...PURGE], { env, as: "alice" });
    expect(run.code, run.stderr).toBe(77);
    expect(run.stdout).not.toContain("purged");
    expect(run.stderr).toContain('identity mismatch: the target answered "elb-prod-7f3a"');
    expect(run.stderr).toContain("that is the identity of production");
  });

  it("an unreachable target refuses (fail closed)", async () => {
    const env = { DATABASE_URL: url(stg.name, "stg-db.internal", 1) };
    const run = await guardIn(w, ["run", "--", ...PURGE], { env, as: "alice" });
    expect(run.code, run.stderr).toBe(77);
    expect(run.stderr).toContain("identity probe failed");
    expect(run.stdout).not.toContain("purged");
  });

  it("an identity that changes after approval refuses the approved run before it runs", async () => {
    const env = { DATABASE_URL: url(prod.name, "prod-db.internal") };
    const purge = [...PURGE, "--ticket=INC-restore"];
    const asked = await guardIn(w, ["run", "--confirm", "production", "--reason", "stale state", "--", ...purge], { env, as: "alice" });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    const show = await guardIn(w, ["show", id], { as: "bob" });
    expect(show.stdout).toContain("elb-prod-7f3a");
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    // The production database is replaced by a restored copy that answers differently.
    await asRestoredCopy(async () => {
      const run = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env, as: "alice" });
      expect(run.code, run.stderr).toBe(77);
      expect(run.stdout).not.toContain("purged");
      expect(run.stderr).toContain("elb-prod-restored");
    });
    await runsOnceMore(id, env);
  });

  it("RC6: a target that changes while the run waits for its approval is asked again before exec: refused (77), the approval not used", async () => {
    const env = { DATABASE_URL: url(prod.name, "prod-db.internal") };
    const ticket = "--ticket=INC-rc6";
    const purge = [...PURGE, ticket];
    // A real guard process: asks the target (production answers as production), makes the request, waits.
    const waiting = guard(w, ["run", "--confirm", "production", "--reason", "rc6", "--wait", "60s", "--", ...purge], { env, as: "alice" });
    let id = "";
    for (let i = 0; i < 200 && id === ""; i++) {
      const listed = JSON.parse((await guardIn(w, ["requests", "--json"], { as: "bob" })).stdout) as { requests: Array<{ id: string; argv: string[]; status: string }> };
      id = listed.requests.find((r) => r.argv.includes(ticket) && r.status === "pending")?.id ?? "";
      if (id === "") await new Promise((r) => setTimeout(r, 100));
    }
    expect(id).not.toBe("");
    // While it waits, the production database is replaced by a restored copy that answers differently;
    // then an SRE approves what they saw (the answer at request time).
    await asRestoredCopy(async () => {
      expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
      const run = await waiting;
      expect(run.code, run.stderr).toBe(77);
      expect(run.stdout).not.toContain("purged");
      expect(run.stderr).toContain("no longer answers as it did");
      expect(run.stderr).toContain("elb-prod-restored");
    });
    await runsOnceMore(id, env);
  });
});
