/**
 * GitHub Actions output of guard's command line: annotations on stderr, the step summary, and that neither
 * a hostile reason nor hostile argv can make the runner act on a command guard did not mean to send.
 * The runner's reading of the output is modelled by ./runner.ts (after actions/runner's parser).
 *
 * Most calls run in process (guardIn: the same command line, environment and output files, the wrapped
 * command spawned by guard, without a Node start each). With the built CLI: the approved re-run in CI
 * (I4's main flow), the `--wait` job that waits while the approval comes from elsewhere (two guards at
 * once), and C10's run with a real pipe as stdin (guardIn only says "pipe"; the built CLI classifies it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { readFile, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, type World } from "../e2e/world.js";
import { guardIn } from "../helpers/in-process.js";
import { runnerCommands } from "./runner.js";

const PROD = { DATABASE_URL: "postgres://elb@prod-db.internal/elb" };
const HOSTILE_REASON = "INC-1\n::set-output name=approved::yes %0A ##[set-output name=approved;]yes <img src=x onerror=alert(1)> | x |";
const HOSTILE_ARG = "##[set-output name=approved;]yes";

let world: World;
let n = 0;

beforeAll(async () => {
  world = await makeWorld();
  // An allowed production script that sends its own workflow command: guard must let it through.
  await writeFile(join(world.dir, "maintenance", "report-annotate.sh"), '#!/bin/sh\necho "::notice title=child::report done"\necho "report: $# arguments"\n', { mode: 0o755 });
});
afterAll(() => world.cleanup());

/** A fresh, empty step-summary file, as the runner creates one for every step. */
async function summaryFile(): Promise<string> {
  const path = join(world.dir, `summary-${++n}.md`);
  await writeFile(path, "");
  return path;
}

const actions = (summary: string, extra: Record<string, string> = {}): Record<string, string> => ({ GITHUB_ACTIONS: "true", CI: "true", GITHUB_STEP_SUMMARY: summary, ...extra });

/** Commands the runner acts on, apart from guard's own stop/resume pair. */
function acted(stderr: string, stdout = ""): Array<[string, string | undefined, string]> {
  const cmds = [...runnerCommands(stderr), ...runnerCommands(stdout)];
  const stop = cmds.filter((c) => c.name === "stop-commands");
  const resume = cmds.filter((c) => c.name === "(resume)");
  expect(resume).toHaveLength(stop.length);
  return cmds.filter((c) => c.name !== "stop-commands" && c.name !== "(resume)").map((c) => [c.name, c.props.title, c.data]);
}

describe("GitHub Actions annotations and step summary", () => {
  it("a refusal is one ::error with escaped text; hostile argv and %0A inject nothing", async () => {
    const summary = await summaryFile();
    const env = "prod%0A::warning::x\n::error::y";
    const r = await guardIn(world, ["run", "--", "maintenance/report-lb-state.sh", "--env", env, HOSTILE_ARG], { as: "dave", env: actions(summary, PROD) });
    expect(r.code).toBe(77);
    expect(r.stdout).toBe("");
    const cmds = acted(r.stderr);
    expect(cmds).toHaveLength(1);
    const [name, title, data] = cmds[0]!;
    expect([name, title]).toEqual(["error", "guard refused"]);
    // Message and hint: guard's own two lines, the hostile LF shown as \n, the hostile %0A as text.
    expect(data.split("\n")).toHaveLength(2);
    expect(data).toContain("prod%0A::warning::x\\\\n::error::y");
    expect(r.stderr).toContain("prod%250A");
    const md = await readFile(summary, "utf8");
    expect(md).toContain("### guard run: refused");
    expect(md).toContain("| **exit code** | 77 |");
    expect(md).not.toMatch(/(?<!\\)(?:\\\\)*</);
  });

  it("a pending approval is a ::notice with the approve line; the summary names the request (T1, T4)", async () => {
    const summary = await summaryFile();
    const r = await guardIn(world, ["run", "--confirm", "production", "--reason", HOSTILE_REASON, "--", "maintenance/purge-lb-state.sh", HOSTILE_ARG], { as: "dave", env: actions(summary, PROD) });
    expect(r.code).toBe(75);
    expect(r.stdout).toBe("");
    const id = requestIdIn(r.stderr);
    const cmds = acted(r.stderr);
    expect(cmds).toHaveLength(1);
    const [name, title, data] = cmds[0]!;
    expect([name, title]).toEqual(["notice", "guard: approval needed"]);
    expect(data).toContain(`request ${id}`);
    expect(data).toContain(`guard approve ${id}`);
    const md = await readFile(summary, "utf8");
    expect(md).toContain("### guard run: approval needed");
    expect(md).toContain(`\`\`\`sh\nguard approve ${id}\n\`\`\``);
    expect(md).toContain("eligible: alice\\, bob");
    const reasonRow = md.split("\n").find((l) => l.startsWith("| **reason** |"))!;
    expect(reasonRow.split(/(?<=(?:^|[^\\])(?:\\\\)*)\|/)).toHaveLength(4);
    expect(md).not.toMatch(/(?<!\\)(?:\\\\)*</);
    expect(md.split("\n").some((l) => l.trimStart().startsWith("::") || l.includes("\r"))).toBe(false);
  });

  it("an allowed run: the command's exit code passes through, its own annotations still work, the summary records it", async () => {
    const summary = await summaryFile();
    const child = await guardIn(world, ["run", "--", "maintenance/report-annotate.sh", HOSTILE_ARG], { as: "dave", env: actions(summary, PROD) });
    expect(child.code).toBe(0);
    expect(acted(child.stderr, child.stdout)).toEqual([["notice", "child", "report done"]]);
    const failing = await guardIn(world, ["run", "--", "maintenance/exit-with.sh", "3"], { as: "dave", env: actions(summary, PROD) });
    expect(failing.code).toBe(3);
    expect(acted(failing.stderr)).toEqual([]);
    const md = await readFile(summary, "utf8");
    expect(md).toContain("### guard run: ran\\, exit 0");
    expect(md).toContain("### guard run: ran\\, exit 3");
    expect(md).toContain("**Rules matched:** exits\\-are\\-fine");
  });

  it("I4: approved in CI, the re-run runs once (child annotations intact); the next re-run needs a new approval", async () => {
    const summary = await summaryFile();
    const argv = ["run", "--reason", "release 1.2", "--confirm", "production", "--", "maintenance/purge-lb-state.sh", "--all"];
    const first = await guardIn(world, argv, { as: "dave", env: actions(summary, PROD) });
    expect(first.code).toBe(75);
    const id = requestIdIn(first.stderr);
    const approve = await guardIn(world, ["approve", id, "--yes"], { as: "bob" });
    expect(approve.code).toBe(0);
    const second = await guard(world, argv, { as: "dave", env: actions(summary, PROD) });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe("purged --all\n");
    expect(acted(second.stderr)).toEqual([]);
    const third = await guardIn(world, argv, { as: "dave", env: actions(summary, PROD) });
    expect(third.code).toBe(75);
    expect(requestIdIn(third.stderr)).not.toBe(id);
    // Its replay by id is refused at once from its consumption record; the summary still shows the request.
    const replay = await guardIn(world, ["run", "--request", id, "--confirm", "production"], { as: "dave", env: actions(summary, PROD) });
    expect(replay.code).toBe(77);
    const md = await readFile(summary, "utf8");
    expect(md).toContain("### guard run: ran\\, exit 0");
    expect(md).toContain(`| **request** | ${id.replace(/-/g, "\\-")} — approved`);
    expect(md).toContain(`| **request** | ${id.replace(/-/g, "\\-")} — consumed`);
    expect(md.split("### ").at(-1)).toContain("| **command** | maintenance\\/purge\\-lb\\-state\\.sh \\-\\-all |");
  });

  it("--wait in CI: the job waits, an approver approves from elsewhere, the same job runs the command once", async () => {
    const summary = await summaryFile();
    const argv = ["run", "--wait", "30s", "--reason", "release 1.3", "--confirm", "production", "--", "maintenance/purge-lb-state.sh", "--region", "eu"];
    const job = guard(world, argv, { as: "dave", env: actions(summary, PROD) });
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const listed = await guardIn(world, ["requests", "--json"], { as: "bob" });
      id = (JSON.parse(listed.stdout) as { requests: Array<{ id: string; argv: string[] }> }).requests.find((q) => q.argv.includes("eu"))?.id;
    }
    expect(id).toBeDefined();
    expect((await guardIn(world, ["approve", id!, "--yes"], { as: "bob" })).code).toBe(0);
    const r = await job;
    expect([r.code, r.stdout]).toEqual([0, "purged --region eu\n"]);
    expect(acted(r.stderr)).toEqual([]);
    expect(await readFile(summary, "utf8")).toContain("### guard run: ran\\, exit 0");
  });

  it("C10: a CI step's stdin is a pipe; an approval-gated run needs </dev/null (as docs/ci.md says), else it is refused", async () => {
    const r = await guard(world, ["run", "--confirm", "production", "--reason", "x", "--", "maintenance/purge-lb-state.sh", "--stdin-case"], { as: "dave", env: actions(await summaryFile(), PROD), stdin: "pipe" });
    expect(r.code).toBe(77);
    const [cmd] = acted(r.stderr);
    expect(cmd![0]).toBe("error");
    expect(cmd![2]).toContain("</dev/null");
  });

  it("without GITHUB_ACTIONS=true nothing is annotated and no summary is written", async () => {
    const summary = await summaryFile();
    const r = await guardIn(world, ["run", "--", "maintenance/migrate-lb-schema.sh", "--drop-all"], { as: "dave", env: { GITHUB_ACTIONS: "false", GITHUB_STEP_SUMMARY: summary, ...PROD } });
    expect(r.code).toBe(77);
    expect(runnerCommands(r.stderr)).toEqual([]);
    expect(await readFile(summary, "utf8")).toBe("");
  });

  it("S4: a missing summary file is not created and a symlinked one is not followed; the outcome is unchanged", async () => {
    const missing = join(world.dir, "no-such-summary.md");
    const r1 = await guardIn(world, ["run", "--", "maintenance/migrate-lb-schema.sh", "--drop-all"], { as: "dave", env: actions(missing, PROD) });
    expect(r1.code).toBe(77);
    expect(existsSync(missing)).toBe(false);
    expect(r1.stderr).toContain("the step summary could not be appended");
    const target = await summaryFile();
    const link = join(world.dir, "summary-link.md");
    await symlink(target, link);
    const r2 = await guardIn(world, ["run", "--", "maintenance/exit-with.sh", "0"], { as: "dave", env: actions(link, PROD) });
    expect(r2.code).toBe(0);
    expect(await readFile(target, "utf8")).toBe("");
    // A FIFO nobody reads (S27): not waited on; the run's outcome stands and the summary is said to be missing.
    const fifo = join(world.dir, "summary-fifo");
    execFileSync("mkfifo", [fifo]);
    const r3 = await guardIn(world, ["run", "--", "maintenance/exit-with.sh", "0"], { as: "dave", env: actions(fifo, PROD) });
    expect(r3.code).toBe(0);
    expect(r3.stderr).toContain("the step summary could not be appended");
  });
});

describe("guard check under GitHub Actions", () => {
  it("deny is an ::error, approval a ::notice, allow says nothing; each leaves a summary and the same JSON", async () => {
    const summary = await summaryFile();
    const deny = await guardIn(world, ["check", "--json", "--", "maintenance/migrate-lb-schema.sh", "--drop-all"], { as: "dave", env: actions(summary, PROD) });
    const approval = await guardIn(world, ["check", "--", "maintenance/purge-lb-state.sh"], { as: "dave", env: actions(summary, PROD) });
    const allow = await guardIn(world, ["check", "--", "maintenance/report-lb-state.sh"], { as: "dave", env: actions(summary, PROD) });
    expect([deny.code, approval.code, allow.code]).toEqual([77, 75, 0]);
    expect(JSON.parse(deny.stdout).decision).toBe("deny");
    expect(acted(deny.stderr).map((c) => [c[0], c[1]])).toEqual([["error", "guard check: deny"]]);
    expect(acted(approval.stderr).map((c) => [c[0], c[1]])).toEqual([["notice", "guard check: approval required"]]);
    expect(acted(allow.stderr)).toEqual([]);
    const md = await readFile(summary, "utf8");
    expect(md).toContain("### guard check: deny");
    expect(md).toContain("### guard check: approval required");
    expect(md).toContain("### guard check: allow");
  });
});

describe("I3: CI variables change the format, never the decision", () => {
  const cases: Array<[string, string[], Record<string, string>]> = [
    ["allowed report", ["maintenance/report-lb-state.sh"], PROD],
    ["purge needs approval", ["maintenance/purge-lb-state.sh", "--all"], PROD],
    ["migration drop denied", ["maintenance/migrate-lb-schema.sh", "--drop-all"], PROD],
    ["conflicting target", ["maintenance/purge-lb-state.sh", "--env", "staging"], PROD],
    ["development by default", ["maintenance/purge-lb-state.sh"], {}],
  ];

  // `guard check --json` for each case with and without CI variables: in process
  // (test/commands/check.test.ts, "I3"). The runs below run the command (guard's whole command line in process).
  it("run: the same exit code and the same command output with and without CI variables", async () => {
    for (const [, argv, env] of cases) {
      const plain = await guardIn(world, ["run", "--reason", "same", "--", ...argv], { as: "dave", env: { ...env, CI: undefined, GITHUB_ACTIONS: undefined } });
      const ci = await guardIn(world, ["run", "--reason", "same", "--", ...argv], { as: "dave", env: { ...env, ...actions(await summaryFile()) } });
      expect([argv, ci.code, ci.stdout]).toEqual([argv, plain.code, plain.stdout]);
    }
  });
});
