/**
 * Shell completion, from the built CLI. `guard __complete` carries the logic, tested in process at
 * every level against what `--help` lists, so nothing drifts (test/commands/completion.test.ts), and
 * here through the built CLI at the top level and where it must fail quietly; each shell's shim is then
 * driven in the real shell: bash through its completion function with COMP_WORDS set as readline does, zsh in its
 * line editor under tmux (compsys runs only there), fish through `complete -C`, its own engine.
 * zsh, fish and tmux are Debian packages .ci/run installs: under CI=true a missing one fails these tests
 * rather than skipping them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { promisify } from "node:util";
import { BIN, guard, makeWorld, requestIdIn, type World } from "../e2e/world.js";
import { formatAnswer, lookedUp } from "../../src/commands/completion.js";
import { helpListing as helpListingOf } from "../helpers/help-listing.js";

const run = promisify(execFile);
const has = (tool: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
/** Outside CI a shell that is not installed skips its tests (saying so); in CI it fails them. */
const missing = (tool: string): boolean => !has(tool) && !process.env.CI;
const BASH_COMPLETION = "/usr/share/bash-completion/bash_completion";

let world: World;
let scripts: Record<"bash" | "zsh" | "fish", string>;
let pendingId: string;
/** The world's environment with a `guard` on PATH, as a user who installed it has. */
let shellEnv: Record<string, string>;

beforeAll(async () => {
  world = await makeWorld();
  const bin = join(world.dir, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "guard"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`, { mode: 0o755 });
  shellEnv = { ...world.env, PATH: `${bin}:${world.env.PATH}`, GUARD_KEY: world.people.dave!.key };
  scripts = { bash: "", zsh: "", fish: "" };
  for (const shell of ["bash", "zsh", "fish"] as const) {
    const r = await guard(world, ["completion", shell]);
    expect(r.code).toBe(0);
    scripts[shell] = join(world.dir, `guard.${shell}`);
    await writeFile(scripts[shell], r.stdout);
  }
  const req = await guard(world, ["run", "--confirm", "production", "--reason", "r", "--", "maintenance/purge-lb-state.sh"], { as: "dave", env: { DATABASE_URL: "postgres://prod-db.internal/x" } });
  expect(req.code).toBe(75);
  pendingId = requestIdIn(req.stderr);
});
afterAll(() => world.cleanup());

/** `guard __complete WORDS…`: the directive line, and the candidates without their descriptions. */
async function ask(words: string[]): Promise<{ directive: string; values: string[] }> {
  const r = await guard(world, ["__complete", ...words], { env: { GUARD_KEY: world.people.dave!.key } });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe("");
  const [directive, ...lines] = r.stdout.replace(/\n$/, "").split("\n");
  return { directive: directive!, values: lines.map((l) => l.split("\t")[0]!) };
}

/** The options and subcommands `guard PATH --help` lists: what completion must offer. */
async function helpListing(path: string[]): Promise<{ options: string[]; commands: string[] }> {
  const { stdout } = await run(process.execPath, [BIN, ...path, "--help"], { env: world.env });
  return helpListingOf(stdout);
}

describe("guard __complete (the logic every shell's shim asks)", () => {
  // Every level of the command table, the answers for partial command lines, environments and request
  // ids: in process (test/commands/completion.test.ts). Here the built CLI's top level.
  it("every command and option that the top level's --help lists is offered (no drift)", async () => {
    const listing = await helpListing([]);
    const opts = await ask(["-"]);
    const subs = await ask([""]);
    expect(opts.values.filter((o) => o !== "--").sort()).toEqual([...listing.options].sort());
    expect([...subs.values].sort()).toEqual([...listing.commands].sort());
    expect(listing.commands.length).toBeGreaterThan(10);
    expect((await ask(["run", "--env", "pr"])).values).toEqual(["prd", "prod", "production"]);
    expect((await ask(["approve", ""])).values).toEqual([pendingId]);
  });

  it("is hidden: --help does not list it", async () => {
    expect((await helpListing([])).commands).not.toContain("__complete");
  });

  it("a store or policy that cannot be read gives no candidates, no error, and creates nothing", async () => {
    const gone = join(world.dir, "no-store-here");
    const r = await guard(world, ["__complete", "approve", "--store", `file:${gone}`, ""]);
    expect(r.stdout).toBe(":none\n");
    expect(r.stderr).toBe("");
    expect(existsSync(gone)).toBe(false);
    const p = await guard(world, ["__complete", "run", "--policy", join(world.dir, "nowhere"), "--env", ""]);
    expect([p.code, p.stdout, p.stderr]).toEqual([0, ":none\n", ""]);
  });

  it("a store that accepts the connection and never answers costs a Tab at most about 2 seconds", async () => {
    // It accepts and never answers; the sockets it accepted are ended with it (nothing reads them, so
    // they would not see the client's end, and would stay open in this test process).
    const accepted = new Set<Socket>();
    const silent = createServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const started = Date.now();
      const r = await guard(world, ["__complete", "approve", "--store", `postgres://guard@127.0.0.1:${port}/guard`, ""]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, ":none\n", ""]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(Date.now() - started).toBeLessThan(4500);
    } finally {
      for (const socket of accepted) socket.destroy();
      silent.close();
    }
  });
});

describe("candidates from a policy or a store are never shell syntax", () => {
  it("only words guard itself accepts as an environment name or a request id are offered", () => {
    const hostile = ["$(touch pwned)", "`id`", "prod;rm -rf ~", "a b", "x\ny", "--env", ":files", "Prod", "r-$(touch)aaaaaaaaaaaa", "r-abcdefghijklmnopqrs1", "r-ABCDEFGHIJKLMNOPQRST"];
    expect(lookedUp("environments", [...hostile, "production", "prod"], "p", "")).toEqual([{ value: "prod" }, { value: "production" }]);
    expect(lookedUp("requests", [...hostile, "r-abcdefghijklmnopqrst"], "r-", "")).toEqual([{ value: "r-abcdefghijklmnopqrst" }]);
  });

  it("one candidate is one line: tabs and line breaks cannot add candidates or a directive", () => {
    expect(formatAnswer({ kind: "none" }, [{ value: "a\n:files", description: "d\tx\ny" }])).toBe(":none\na :files\td x y");
  });
});

describe("bash shim", () => {
  /** Complete each command line (the last word is the one being completed), one reply per line. */
  async function bashComplete(lines: string[][], preamble = ""): Promise<string[][]> {
    const driver = [
      preamble,
      `source ${JSON.stringify(scripts.bash)}`,
      't() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _guard 2>/dev/null; printf "%s\\n" "${COMPREPLY[*]}"; }',
      ...lines.map((l) => `t ${l.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(" ")}`),
    ].join("\n");
    const { stdout } = await run("bash", ["-c", driver], { env: shellEnv, cwd: world.dir });
    return stdout.split("\n").slice(0, lines.length).map((l) => l.split(" ").filter(Boolean));
  }

  it("parses and registers `complete -F _guard guard`", async () => {
    await run("bash", ["-n", scripts.bash]);
    const { stdout } = await run("bash", ["-c", `source ${JSON.stringify(scripts.bash)}; complete -p guard`]);
    expect(stdout.trim()).toBe("complete -F _guard guard");
  });

  it.each<[string[], string[]]>([
    [["guard", "ru"], ["run"]],
    [["guard", "help", "p"], ["policy"]],
    [["guard", "completion", ""], ["bash", "zsh", "fish"]],
    [["guard", "run", "--policy", "pol"], ["policies"]],
    [["guard", "run", "--env", "pr"], ["prd", "prod", "production"]],
    [["guard", "run", "--env", "=", "pro"], ["prod", "production"]],
    [["guard", "run", "--env", "production", "--", "maintenance/purge"], ["maintenance/purge-lb-state.sh"]],
    [["guard", "check", "maintenance/rep"], ["maintenance/report-lb-state.sh"]],
    [["guard", "approve", ""], ["<pending>"]],
    [["guard", "run", "--request", "r"], ["<pending>"]],
  ])("%j → %j", async (line, expected) => {
    const [got] = await bashComplete([line]);
    expect([...got!].sort()).toEqual(expected.map((e) => (e === "<pending>" ? pendingId : e)).sort());
  });

  it.skipIf(!existsSync(BASH_COMPLETION) && !process.env.CI)("with bash-completion loaded, the wrapped command completes with its own completion", async () => {
    const [got] = await bashComplete([["guard", "run", "--env", "production", "--", "ssh-keygen", "-"]], `source ${BASH_COMPLETION}`);
    expect(got).toEqual(expect.arrayContaining(["-t", "-f", "-C"]));
  });
});

describe.skipIf(missing("zsh") || missing("tmux"))("zsh shim, in zsh's line editor under tmux (needs zsh and tmux; skipped outside CI when missing)", () => {
  const socket = `guard-completion-${process.pid}`;
  const tmux = (...args: string[]): Promise<{ stdout: string }> => run("tmux", ["-L", socket, "-f", "/dev/null", ...args], { env: shellEnv, cwd: world.dir });
  const screen = async (): Promise<string> => (await tmux("capture-pane", "-p", "-t", "z")).stdout;
  /** Wait (up to 15 s) until the screen satisfies `ok`; returns it. */
  async function until(ok: (s: string) => boolean): Promise<string> {
    const deadline = Date.now() + 15_000;
    let s = "";
    while (Date.now() < deadline) {
      s = await screen();
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    return s;
  }
  /** Type `line`, press Tab, and return the screen once `ok` holds (or the last one). */
  async function tab(line: string, ok: (s: string) => boolean): Promise<string> {
    // Line editor keys, read in order (a Ctrl-C signal could overtake keys typed after it): kill the
    // line, clear the screen and any listing.
    await tmux("send-keys", "-t", "z", "C-u", "C-l");
    expect((await until((s) => s.trim() === "%")).trim()).toBe("%");
    await tmux("send-keys", "-t", "z", "-l", line);
    await tmux("send-keys", "-t", "z", "Tab");
    return until(ok);
  }

  beforeAll(async () => {
    await writeFile(join(world.dir, ".zshrc"), [
      "PS1='%% '",
      "autoload -Uz compinit && compinit -u -D",
      `source ${JSON.stringify(scripts.zsh)}`,
      "zstyle ':completion:*' list-rows-first true",
      "",
    ].join("\n"));
    await tmux("new-session", "-d", "-s", "z", "-x", "200", "-y", "40", `ZDOTDIR=${JSON.stringify(world.dir)} zsh -i`);
    const s = await until((x) => x.includes("%"));
    expect(s).toContain("%");
  });
  afterAll(async () => {
    await tmux("kill-server").catch(() => undefined);
  });

  it("the script parses and registers with compinit", async () => {
    await run("zsh", ["-n", scripts.zsh]);
    const { stdout } = await run("zsh", ["-f", "-c", `autoload -Uz compinit && compinit -u -D; source ${JSON.stringify(scripts.zsh)}; print -r -- $_comps[guard]`], { env: shellEnv });
    expect(stdout.trim()).toBe("_guard");
  });

  it.each<[string, RegExp]>([
    ["guard ru", /^% guard run$/m],
    ["guard run --confirm produ", /^% guard run --confirm production$/m],
    ["guard run --env=produ", /^% guard run --env=production$/m],
    ["guard run --policy pol", /^% guard run --policy policies\/$/m],
    ["guard check ./maintenance/rep", /^% guard check \.\/maintenance\/report-lb-state\.sh$/m],
  ])("%j → the line becomes %s", async (line, expected) => {
    const s = await tab(line, (x) => expected.test(x));
    expect(s).toMatch(expected);
  });

  it("several candidates are listed with their descriptions", async () => {
    const s = await tab("guard completion ", (x) => /bash/.test(x) && /fish/.test(x) && /zsh/.test(x));
    expect(s).toMatch(/bash[\s\S]*fish|fish[\s\S]*bash/);
    const c = await tab("guard policy ", (x) => /lint/.test(x) && /schema/.test(x));
    expect(c).toContain("validate the policy");
  });

  it("a pending request id is completed from the store", async () => {
    const s = await tab("guard approve ", (x) => x.includes(pendingId));
    expect(s).toContain(`% guard approve ${pendingId}`);
  });

  it("the wrapped command completes with zsh's own completion for it", async () => {
    const s = await tab("guard run --env production -- ls --hum", (x) => /--human-readable/.test(x));
    expect(s).toMatch(/% guard run --env production -- ls --human-readable/);
  });
});

describe.skipIf(missing("fish"))("fish shim, through fish's own engine (complete -C; needs fish; skipped outside CI when missing)", () => {
  const complete = async (line: string): Promise<string[]> => {
    const { stdout } = await run("fish", ["--no-config", "-c", `source ${scripts.fish}; complete -C ${JSON.stringify(line)}`], { env: shellEnv, cwd: world.dir });
    return stdout.split("\n").filter(Boolean).map((l) => l.split("\t")[0]!);
  };

  it("the script parses", async () => {
    await run("fish", ["--no-execute", scripts.fish]);
  });

  it.each<[string, string[]]>([
    ["guard ru", ["run"]],
    ["guard run --e", ["--env"]],
    ["guard policy ", ["help", "lint", "schema", "test"]],
    ["guard completion ", ["bash", "fish", "zsh"]],
    ["guard run --env pr", ["prd", "prod", "production"]],
    ["guard run --env=st", ["--env=staging", "--env=stg"]],
    ["guard run --policy pol", ["policies/"]],
    ["guard run --env production -- maintenance/purge", ["maintenance/purge-lb-state.sh"]],
    ["guard -", ["--help", "--version", "-V", "-h"]],
  ])("%j → %j", async (line, expected) => {
    expect((await complete(line)).sort()).toEqual([...expected].sort());
  });

  it("request ids for approve and --request come from the store", async () => {
    expect(await complete("guard approve ")).toEqual([pendingId]);
    expect(await complete("guard run --request ")).toEqual([pendingId]);
  });
});
