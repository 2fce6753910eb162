/**
 * SECURITY H1–H5 (issue 12, item 7): hostile input from the store or the policy ends in a located error,
 * never a crash (70, a stack trace) or a hang. Each attack is made in the store or the policy as it would
 * be; guard's command line then runs in the test process (guardIn, ../helpers/in-process.ts) for setup
 * and the checks of what it says. The built CLI keeps what needs a process of its own: the runs and the
 * `show` over 200,000-deep JSON and the `check` of a 100,000-character value against `^(a|a)*$` (a stack
 * overflow or a hang there must be the real process's, and would take the test process with it), and
 * the two H5 locks that name this test process's pid (a guard in this process would be that pid itself,
 * not another live process of the host).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, standardPolicy, type World } from "../e2e/world.js";
import { guardIn } from "../helpers/in-process.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const REPORT = ["run", "--", "./maintenance/report-lb-state.sh", "--all"];
const deep = (n: number): string => `${"[".repeat(n)}${"]".repeat(n)}`;

/** No stack trace, no internal error: what a person sees is guard's own message. */
function noCrash(r: { code: number; stderr: string }): void {
  expect(r.code).not.toBe(70);
  expect(r.stderr).not.toMatch(/RangeError|Maximum call stack|\n\s+at .+:\d+:\d+\)?\n/);
}

describe("H1: deeply nested JSON in the store is a located integrity error (65), not a crash", () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
  });
  afterAll(async () => w?.cleanup());

  it("H1: an audit line nested 200,000 deep: every run and `audit verify` exit 65 naming the line", async () => {
    const ok = await guardIn(w, REPORT, { as: "alice", env: PROD });
    expect(ok.code, ok.stderr).toBe(0);
    const log = join(w.store, "audit", "events.jsonl");
    const lines = (await readFile(log, "utf8")).split("\n").filter(Boolean).length;
    await appendFile(log, `{"actor":${deep(200_000)}}\n`);

    const run = await guard(w, REPORT, { as: "alice", env: PROD });
    noCrash(run);
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(/audit log .*events\.jsonl last line nests arrays or objects more than 64 levels deep/);

    const verify = await guardIn(w, ["audit", "verify"]);
    noCrash(verify);
    expect(verify.code).toBe(65);
    expect(verify.stderr + verify.stdout).toContain(`line ${lines + 1}`);
  }, 30_000);

  it("H1: a request record nested 200,000 deep: `guard show` of it exits 65 naming the file", async () => {
    const v = await makeWorld();
    try {
      const asked = await guardIn(v, ["request", "--reason", "h1", "--", "./maintenance/purge-lb-state.sh", "--h1"], { as: "bob", env: PROD });
      expect(asked.code, asked.stderr).toBe(0);
      const id = requestIdIn(asked.stdout + asked.stderr);
      await writeFile(join(v.store, "requests", `${id}.json`), `{"request":${deep(200_000)}}`);
      const show = await guard(v, ["show", id], { as: "alice" });
      noCrash(show);
      expect(show.code).toBe(65);
      expect(show.stderr).toContain(`requests/${id}.json`);
      expect(show.stderr).toMatch(/more than 64 levels deep/);
    } finally {
      await v.cleanup();
    }
  }, 30_000);
});

describe("H2: a reversed glob range is a policy error (78) at file:line:col, at lint and on every run", () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld({ policy: (people) => standardPolicy(people).replace('matches: "*staging-db.*"', 'matches: "tru[e-a]"') });
  });
  afterAll(async () => w?.cleanup());

  it("H2: `policy lint` refuses `tru[e-a]` with its location and a hint", async () => {
    const r = await guardIn(w, ["policy", "lint"]);
    noCrash(r);
    expect(r.code).toBe(78);
    expect(r.stdout + r.stderr).toMatch(/guard\.yaml:\d+:\d+: error\[bad-glob\]: `matches` "tru\[e-a\]" is not a valid glob/);
    expect(r.stdout + r.stderr).toMatch(/low to high/);
  });

  it("H2: a run refuses with 78 and the location, not 70", async () => {
    const r = await guardIn(w, REPORT, { as: "alice", env: PROD });
    noCrash(r);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/guard\.yaml:\d+:\d+: error\[bad-glob\]/);
  });
});

describe("H3: policy regexes run in linear time (RE2); what RE2 cannot run is refused at lint", () => {
  let w: World;
  const withRegex = (re: string) => (people: World["people"]) =>
    standardPolicy(people).replace('      - env: DATABASE_URL\n        matches: "*staging-db.*"', `      - env: STAGE\n        regex: ${JSON.stringify(re)}`);
  afterAll(async () => w?.cleanup());

  it("H3: `^(a|a)*$` passes lint and `guard check` against 100,000 a's and a b answers (no hang)", async () => {
    w = await makeWorld({ policy: withRegex("^(a|a)*$") });
    const lint = await guardIn(w, ["policy", "lint"]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const value = `${"a".repeat(100_000)}b`;
    const r = await guard(w, ["check", "--", "./maintenance/report-lb-state.sh"], { as: "alice", env: { STAGE: value } });
    noCrash(r);
    // STAGE is set but matches no environment: undetermined, refused (never the default) — and promptly.
    expect(r.code, r.stderr).toBe(77);
    expect(r.stdout + r.stderr).toMatch(/STAGE.*no environment's detector recognises it|target undetermined/);
    const staging = await guardIn(w, ["check", "--", "./maintenance/report-lb-state.sh"], { as: "alice", env: { STAGE: "aaaa" } });
    expect(staging.code, staging.stderr).toBe(0);
    expect(staging.stdout).toContain("staging");
  }, 20_000);

  it.each([
    ["a backreference", "^(a)\\1$"],
    ["a lookahead", "^(?=prod)"],
  ])("H3: %s is refused at lint (78, located), naming the RE2 dialect", async (_name, re) => {
    const v = await makeWorld({ policy: withRegex(re) });
    try {
      const r = await guardIn(v, ["policy", "lint"]);
      expect(r.code).toBe(78);
      expect(r.stdout + r.stderr).toMatch(/guard\.yaml:\d+:\d+: error\[bad-regex\]: .*RE2/);
    } finally {
      await v.cleanup();
    }
  });
});

describe("H4: one junk or unreadable record in the file store affects only itself", () => {
  let w: World;
  let victim: string;
  beforeAll(async () => {
    w = await makeWorld();
    const asked = await guardIn(w, ["request", "--reason", "h4", "--", "./maintenance/purge-lb-state.sh", "--victim"], { as: "dave", env: PROD });
    expect(asked.code, asked.stderr).toBe(0);
    victim = requestIdIn(asked.stdout + asked.stderr);
    await writeFile(join(w.store, "requests", "junk \u001b[2J.json"), "not a request");
    await writeFile(join(w.store, "requests", `${victim}.json`), "{ torn");
  }, 30_000);
  afterAll(async () => w?.cleanup());

  it("H4: `guard requests` lists the others and warns, escaped, naming each damaged record; --json carries them apart", async () => {
    const ok = await guardIn(w, ["request", "--reason", "h4 other", "--", "./maintenance/purge-lb-state.sh", "--other"], { as: "alice", env: PROD });
    expect(ok.code, ok.stderr).toBe(0);
    const other = requestIdIn(ok.stdout + ok.stderr);
    const r = await guardIn(w, ["requests"], { as: "bob" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(other);
    expect(r.stderr).toMatch(new RegExp(`warning: damaged record skipped: .*${victim}\\.json: .*not valid JSON`));
    expect(r.stderr).not.toContain("\u001b");
    // The open listing reads the open-request index (issue 18); --all reads every file, junk included.
    const all = await guardIn(w, ["requests", "--all"], { as: "bob" });
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toMatch(/warning: damaged record skipped: .*junk \\x1b\[2J\.json/);
    expect(all.stderr).not.toContain("\u001b");
    const j = await guardIn(w, ["requests", "--all", "--json"], { as: "bob" });
    const parsed = JSON.parse(j.stdout) as { requests: Array<{ id: string }>; damaged: Array<{ id: string | null; where: string; problem: string }> };
    expect(parsed.requests.map((q) => q.id)).toContain(other);
    expect(parsed.damaged.map((d) => d.id).sort()).toEqual([null, victim].sort());
  }, 30_000);

  it("H4: new requests, approvals and runs of other requests keep working", async () => {
    const asked = await guardIn(w, ["run", "--confirm", "production", "--reason", "h4 run", "--", "./maintenance/purge-lb-state.sh", "--h4"], { as: "alice", env: PROD });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    const approved = await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
    expect(approved.code, approved.stderr).toBe(0);
    const ran = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: PROD });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe("purged --h4\n");
  }, 30_000);

  it("H4: show, approve and run --request of the damaged request itself still fail 65", async () => {
    for (const args of [["show", victim], ["approve", victim, "--yes"], ["run", "--request", victim, "--confirm", "production"]]) {
      const r = await guardIn(w, args, { as: "bob", env: PROD });
      noCrash(r);
      expect([args[0], r.code]).toEqual([args[0], 65]);
      expect(r.stderr).toContain(`${victim}.json`);
    }
  }, 30_000);

  it("H4: a junk approval file affects only its own request", async () => {
    const ok = await guardIn(w, ["request", "--reason", "h4 approvals", "--", "./maintenance/purge-lb-state.sh", "--approvals"], { as: "alice", env: PROD });
    const id = requestIdIn(ok.stdout + ok.stderr);
    await mkdir(join(w.store, "approvals", id), { recursive: true });
    await writeFile(join(w.store, "approvals", id, `${"0".repeat(64)}.json`), "junk");
    const r = await guardIn(w, ["requests", "--json"], { as: "bob" });
    expect(r.code, r.stderr).toBe(0);
    const parsed = JSON.parse(r.stdout) as { requests: Array<{ id: string }>; damaged: Array<{ id: string | null }> };
    expect(parsed.damaged.map((d) => d.id)).toContain(id);
    expect(parsed.requests.length).toBeGreaterThan(0);
    expect((await guardIn(w, ["show", id], { as: "bob" })).code).toBe(65);
  }, 30_000);

  it("H4: `guard audit verify` still reports the damaged records as tampering (65)", async () => {
    const r = await guardIn(w, ["audit", "verify"]);
    noCrash(r);
    expect(r.code).toBe(65);
    expect(r.stdout).toMatch(new RegExp(`damaged record .*${victim}\\.json`));
    expect(r.stdout).toMatch(/damaged record .*junk \\x1b\[2J\.json/);
  }, 30_000);
});

describe("H5: planted audit locks: a recycled or unrelated pid is taken over; another host's lock is cleared by a person", () => {
  let w: World;
  const lock = (): string => join(w.store, "audit", "lock");
  const startOf = (pid: number): string => {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
  };
  const holder = (over: Record<string, unknown>): string => JSON.stringify({ pid: process.pid, host: hostname(), token: "planted", since: "2026-01-01T00:00:00Z", ...over });
  beforeAll(async () => {
    w = await makeWorld();
    const first = await guardIn(w, REPORT, { as: "alice", env: PROD });
    expect(first.code, first.stderr).toBe(0);
  });
  afterAll(async () => w?.cleanup());

  it.runIf(existsSync("/proc/self/stat"))("H5: a lock naming a live, unrelated pid of this host (its start time differs) does not stop a run", async () => {
    // This test process is alive for the whole run, and holds no lock of the store.
    await writeFile(lock(), holder({ start: String(Number(startOf(process.pid)) + 7) }));
    const r = await guard(w, REPORT, { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(0);
  }, 30_000);

  it.runIf(existsSync("/proc/self/stat"))("H5: `guard store unlock` refuses while the lock is held by a live process of this host", async () => {
    await writeFile(lock(), holder({ start: startOf(process.pid) }));
    const r = await guard(w, ["store", "unlock"]);
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(new RegExp(`held by pid ${process.pid} on host .*still running on this host; refusing to clear it`));
    expect(await readFile(lock(), "utf8")).toBe(holder({ start: startOf(process.pid) }));
    await rm(lock());
  });

  it("H5: a lock held on another host: every run waits its bounded time, then 74 naming host, pid, age and the command; a person clears it", async () => {
    const planted = holder({ pid: 4242, host: "build-7.example" });
    await writeFile(lock(), planted);
    const r = await guardIn(w, REPORT, { as: "alice", env: PROD });
    noCrash(r);
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(/locked by pid 4242 on host build-7\.example \(held for \d+s/);
    expect(r.stderr).toContain("guard store unlock --host build-7.example");

    const refused = await guardIn(w, ["store", "unlock"]);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain("guard store unlock --host build-7.example");
    expect(await readFile(lock(), "utf8")).toBe(planted);

    const cleared = await guardIn(w, ["store", "unlock", "--host", "build-7.example"]);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stderr).toMatch(/removed the lock .*audit\/lock held by pid 4242 on host build-7\.example/);
    expect(existsSync(lock())).toBe(false);

    const log = await guardIn(w, ["audit", "log", "--json"]);
    expect(log.stdout).toContain("store.unlocked");
    expect(log.stdout).toContain("build-7.example");
    const again = await guardIn(w, REPORT, { as: "alice", env: PROD });
    expect(again.code, again.stderr).toBe(0);
    const verify = await guardIn(w, ["audit", "verify"]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 40_000);
});
