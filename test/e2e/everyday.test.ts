/**
 * The rough edges a new user hits (issue 17, "Everyday use"), the whole command line without a terminal.
 * The terminal side (width, Ctrl-C, prompts) is in test/e2e/terminal-everyday.test.ts.
 *
 * Most checks run guard's command line in process (guardIn, test/helpers/in-process.ts: the same world,
 * file store, keys and exit codes, a wrapped command really run). Through the built CLI, so the real
 * bin's stderr, exit code and the wrapped command's stdout are shown end to end: the plain status line
 * of a usage error, and --color / --no-color against NO_COLOR and FORCE_COLOR (and after --, the command's).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STATUSES } from "../../src/core/errors.js";
import { guard, makeWorld, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

const PROD = "postgres://app@prod-db.internal/elb";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => {
  await w.cleanup();
});

function lastJsonLine(stderr: string): { guard: { status: string; exitCode: number } } {
  const lines = stderr.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

describe("guard run --json: one status line, one documented set of statuses", () => {
  it.each([
    [["run", "--json", "--rason", "INC-1", "--", "./maintenance/report-lb-state.sh"]],
    [["run", "--json", "--wait", "5", "--", "./maintenance/report-lb-state.sh"]],
    [["run", "--rason", "INC-1", "--json", "--", "./maintenance/report-lb-state.sh"]],
  ])("a usage error (%j) ends with the JSON status line and exit 64", async (args) => {
    const r = await guardIn(w, args, { as: "alice" });
    expect(r.code).toBe(64);
    expect(lastJsonLine(r.stderr)).toEqual({ guard: { status: "usage", exitCode: 64 } });
    expect(r.stderr).toMatch(/\{"error":\{"code":"usage","exitCode":64/);
    expect(r.stdout).toBe("");
  });

  it("without --json a usage error ends with the plain status line", async () => {
    const r = await guard(w, ["run", "--rason", "x", "--", "./maintenance/report-lb-state.sh"], { as: "alice" });
    expect(r.code).toBe(64);
    expect(r.stderr.trim().split("\n").pop()).toBe("guard: status=usage exit=64");
  });

  it("every status guard reports is in the documented set", async () => {
    const cases: Array<[string[], Record<string, string>]> = [
      [["run", "--json", "--", "./maintenance/purge-lb-state.sh"], { DATABASE_URL: PROD }],
      [["run", "--json", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { DATABASE_URL: PROD }],
      [["run", "--json", "--", "./maintenance/nope.sh"], {}],
      [["run", "--json", "--", "./maintenance/report-lb-state.sh"], {}],
      [["run", "--json", "--policy", "/nonexistent", "--", "./maintenance/report-lb-state.sh"], {}],
    ];
    const seen: string[] = [];
    for (const [args, env] of cases) {
      const r = await guardIn(w, args, { as: "alice", env });
      const line = lastJsonLine(r.stderr);
      expect(Object.keys(STATUSES)).toContain(line.guard.status);
      expect(line.guard.exitCode).toBe(r.code);
      seen.push(line.guard.status);
    }
    expect(seen).toEqual(["usage", "denied", "not-found", "ran", "policy-invalid"]);
  });
});

describe("audit log --type", () => {
  it("a family finds its events; an unknown type is a usage error listing the known ones", async () => {
    const r1 = await guardIn(w, ["run", "--confirm", "production", "--reason", "INC-9", "--", "./maintenance/purge-lb-state.sh", "--region", "a9"], { as: "alice", env: { DATABASE_URL: PROD } });
    expect(r1.code).toBe(75);
    const id = /r-[a-z2-7]{20}/.exec(r1.stderr)![0];
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    for (const arg of ["approval", "approval.", "approval.recorded"]) {
      const r = await guardIn(w, ["audit", "log", "--json", "--type", arg]);
      expect(r.code, r.stderr).toBe(0);
      const types = r.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { type: string }).type);
      expect(types.length).toBeGreaterThan(0);
      expect(new Set(types)).toEqual(new Set(["approval.recorded"]));
    }
    const bogus = await guardIn(w, ["audit", "log", "--type", "bogus"]);
    expect(bogus.code).toBe(64);
    expect(bogus.stderr).toMatch(/--type "bogus" is not an audit event type/);
    expect(bogus.stderr).toContain("approval.recorded");
    expect(bogus.stdout).toBe("");
  });
});

describe("whoami", () => {
  it("outside any project, without a policy, shows the key and the line to paste into a policy", async () => {
    const r = await guardIn(w, ["whoami"], { as: "carol", cwd: w.home, env: { GUARD_POLICY: undefined } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`key line:   ${w.people.carol!.line}`);
    expect(r.stdout).toMatch(/principal: {2}not in a policy/);
    const j = await guardIn(w, ["whoami", "--json"], { as: "carol", cwd: w.home, env: { GUARD_POLICY: undefined } });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ key: { line: w.people.carol!.line }, principal: null, policy: null });
  });

  it("inside a project it also prints the key line, with the principal", async () => {
    const r = await guardIn(w, ["whoami"], { as: "carol" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`key line:   ${w.people.carol!.line}`);
    expect(r.stdout).toMatch(/principal: {2}carol/);
  });

  it("an invalid policy is still an error (78), not 'not in a policy'", async () => {
    const r = await guardIn(w, ["whoami"], { as: "carol", env: { GUARD_POLICY: "/nonexistent-policy-dir" } });
    expect(r.code).toBe(78);
  });
});

describe("deny and colour", () => {
  async function newRequest(region: string): Promise<string> {
    const r = await guardIn(w, ["request", "--reason", `INC-${region}`, "--", "./maintenance/purge-lb-state.sh", "--region", region], { as: "alice", env: { DATABASE_URL: PROD } });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  }

  it("deny without --reason and without a terminal is guard's own usage error with a hint; deny accepts --yes", async () => {
    const id = await newRequest("d11");
    const r = await guardIn(w, ["deny", id], { as: "bob" });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^guard: deny needs a reason/m);
    expect(r.stderr).toContain(`guard deny ${id} --reason`);
    expect(r.stderr).not.toMatch(/required option/);
    const ok = await guardIn(w, ["deny", id, "--yes", "--reason", "not now"], { as: "bob" });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "bob" })).stdout).status).toBe("denied");
  });

  it("--no-color wins over FORCE_COLOR and --color over NO_COLOR; after -- they are the command's", async () => {
    const plain = await guard(w, ["--no-color", "audit", "log", "--type", "bogus"], { env: { FORCE_COLOR: "1", NO_COLOR: undefined } });
    expect(plain.code).toBe(64);
    expect(plain.stderr).not.toContain("\u001b[");
    const forced = await guard(w, ["audit", "log", "--type", "bogus", "--color"], { env: { NO_COLOR: "1" } });
    expect(forced.code).toBe(64);
    expect(forced.stderr).toContain("\u001b[");
    const passed = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh", "--no-color"], { as: "alice" });
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stdout).toBe("report --no-color\n");
  });
});

describe("CI: a missing --confirm is said before the request", () => {
  it.each([[[] as string[]], [["--wait", "1m"]]])("without a terminal (%j), exit 64 at once and no request is created", async (extra) => {
    const region = `c7-${extra.length}`;
    const r = await guardIn(w, ["run", ...extra, "--reason", "INC-7", "--", "./maintenance/purge-lb-state.sh", "--region", region], { as: "alice", env: { DATABASE_URL: PROD } });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/needs typed confirmation/);
    expect(r.stderr).toContain("pass --confirm production; no request was created");
    const all = (JSON.parse((await guardIn(w, ["requests", "--all", "--json"], { as: "alice" })).stdout) as { requests: Array<{ argv: string[] }> }).requests;
    expect(all.some((q) => q.argv.includes(region))).toBe(false);
  });
});

describe("request id prefixes", () => {
  it("show, approve and run --request take a unique prefix; an ambiguous one is 64 with the candidates", async () => {
    const r = await guardIn(w, ["request", "--reason", "INC-8", "--", "./maintenance/purge-lb-state.sh", "--region", "p8"], { as: "alice", env: { DATABASE_URL: PROD } });
    const id = r.stdout.trim();
    const ids = (): Promise<string[]> => guardIn(w, ["requests", "--all", "--json"], { as: "alice" }).then((x) => (JSON.parse(x.stdout) as { requests: Array<{ id: string }> }).requests.map((q) => q.id));
    let all = await ids();
    // The shortest prefix of `id` that no other id shares.
    let n = 3;
    while (all.some((o) => o !== id && o.startsWith(id.slice(0, n)))) n++;
    const short = id.slice(0, n);
    const show = await guardIn(w, ["show", short, "--json"], { as: "bob" });
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout).id).toBe(id);
    const ok = await guardIn(w, ["approve", id.slice(2, n + 1), "--yes"], { as: "bob" });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`approved ${id}`);
    const ran = await guardIn(w, ["run", "--request", short, "--confirm", "production"], { as: "alice", env: { DATABASE_URL: PROD } });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe("purged --region p8\n");

    // Make requests until two ids share their first character, then name them by it.
    for (let i = 0; i < 40; i++) {
      const firsts = all.map((o) => o[2]!);
      if (firsts.some((f, j) => firsts.indexOf(f) !== j)) break;
      await guardIn(w, ["request", "--reason", "INC-8", "--", "./maintenance/purge-lb-state.sh", "--region", `amb${i}`], { as: "alice", env: { DATABASE_URL: PROD } });
      all = await ids();
    }
    const firsts = all.map((o) => o[2]!);
    const shared = firsts.find((f, j) => firsts.indexOf(f) !== j)!;
    const amb = await guardIn(w, ["show", `r-${shared}`], { as: "bob" });
    expect(amb.code).toBe(64);
    expect(amb.stderr).toMatch(/is the start of \d+ request ids/);
    for (const o of all.filter((x) => x[2] === shared)) expect(amb.stderr).toContain(`candidate: ${o}`);
    expect((await guardIn(w, ["show", "r-11"], { as: "bob" })).code).toBe(64);
  });
});

describe("guard requests --mine / --awaiting-me", () => {
  it("filters by requester and by whether my approval would count", async () => {
    const mk = async (who: string, region: string): Promise<string> => {
      const r = await guardIn(w, ["request", "--reason", "INC-88", "--", "./maintenance/purge-lb-state.sh", "--region", region], { as: who, env: { DATABASE_URL: PROD } });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const byAlice = await mk("alice", "m1");
    const byBob = await mk("bob", "m2");
    const list = async (who: string, flag: string): Promise<string[]> =>
      (JSON.parse((await guardIn(w, ["requests", flag, "--json"], { as: who })).stdout) as { requests: Array<{ id: string }> }).requests.map((q) => q.id);
    expect(await list("alice", "--mine")).toContain(byAlice);
    expect(await list("alice", "--mine")).not.toContain(byBob);
    // bob (sre) can approve alice's, not his own; carol (dba only) can approve neither.
    expect(await list("bob", "--awaiting-me")).toContain(byAlice);
    expect(await list("bob", "--awaiting-me")).not.toContain(byBob);
    expect(await list("carol", "--awaiting-me")).toEqual([]);
    expect((await guardIn(w, ["approve", byAlice, "--yes"], { as: "bob" })).code).toBe(0);
    expect(await list("bob", "--awaiting-me")).not.toContain(byAlice);
  });
});
