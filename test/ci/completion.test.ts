/**
 * `guard completion bash|zsh|fish`, from the built CLI. bash and fish complete for real (bash through
 * its completion function with COMP_WORDS set, as readline does; fish through `complete -C`). zsh's
 * completion system runs only inside its line editor, so the zsh script is syntax-checked, registered
 * with the real compinit, and its logic driven with the completion builtins replaced by printers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN, guard, makeWorld, requestIdIn, type World } from "../e2e/world.js";

const run = promisify(execFile);
const has = (shell: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${shell}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
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

/** bash: complete each command line (the last word is the one being completed), one reply per line. */
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

/** The options and subcommands `guard PATH --help` lists: what completion must offer. */
async function helpListing(path: string[]): Promise<{ options: string[]; commands: string[] }> {
  const { stdout } = await run(process.execPath, [BIN, ...path, "--help"], { env: world.env });
  const section = (name: string): string[] => {
    const start = stdout.indexOf(`\n${name}:\n`);
    if (start < 0) return [];
    const body = stdout.slice(start + name.length + 3).split("\n\n")[0]!;
    return body.split("\n").filter((l) => /^ {2}\S/.test(l));
  };
  return {
    options: section("Options").flatMap((l) => l.trim().split(/\s{2,}/)[0]!.split(/,\s*/).map((f) => f.split(/[ <[]/)[0]!)),
    commands: section("Commands").map((l) => l.trim().split(/\s/)[0]!),
  };
}

describe("guard completion", () => {
  it("refuses an unknown shell with a usage error (64)", async () => {
    const r = await guard(world, ["completion", "tcsh"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("bash, zsh, fish");
  });

  it("bash: the script parses and registers `complete -F _guard guard`", async () => {
    await run("bash", ["-n", scripts.bash]);
    const { stdout } = await run("bash", ["-c", `source ${JSON.stringify(scripts.bash)}; complete -p guard`]);
    expect(stdout.trim()).toBe("complete -F _guard guard");
  });

  it("bash: every command and option that --help lists is completed, at every level (no drift)", async () => {
    let level: string[][] = [[]];
    let checked = 0;
    while (level.length) {
      const next: string[][] = [];
      await Promise.all(
        level.map(async (path) => {
          const listing = await helpListing(path);
          const [opts, subs] = await bashComplete([["guard", ...path, "-"], ["guard", ...path, ""]]);
          expect([path, [...opts!].filter((o) => o !== "--").sort()]).toEqual([path, [...listing.options].sort()]);
          if (listing.commands.length) expect([path, [...subs!].sort()]).toEqual([path, [...listing.commands].sort()]);
          for (const c of listing.commands) if (c !== "help") next.push([...path, c]);
          checked++;
        }),
      );
      level = next;
    }
    expect(checked).toBeGreaterThan(15);
  });

  it.each<[string[], string[]]>([
    [["guard", "ru"], ["run"]],
    [["guard", "run", "--e"], ["--env"]],
    [["guard", "policy", "l"], ["lint"]],
    [["guard", "help", "p"], ["policy"]],
    [["guard", "policy", "help", ""], ["lint", "schema", "test"]],
    [["guard", "completion", ""], ["bash", "fish", "zsh"]],
    [["guard", "run", "--policy", "pol"], ["policies"]],
    [["guard", "run", "--env", "production", "--", "maintenance/purge"], ["maintenance/purge-lb-state.sh"]],
    [["guard", "check", "maintenance/rep"], ["maintenance/report-lb-state.sh"]],
    [["guard", "run", "--store", "file", ":", "/tmp/x", "--js"], ["--json"]],
    [["guard", "run", "--reason", "check", "--js"], ["--json"]],
    [["guard", "audit", "verify", "--anchor", "1", ":", "abc", "--js"], ["--json"]],
  ])("bash: %j → %j", async (line, expected) => {
    const [got] = await bashComplete([line]);
    expect([...got!].sort()).toEqual(expected);
  });

  it("bash: request ids for approve, deny, show and --request come from `guard requests`", async () => {
    const got = await bashComplete([["guard", "approve", ""], ["guard", "deny", "r-"], ["guard", "show", ""], ["guard", "run", "--request", ""], ["guard", "approve", "--yes", "x"]]);
    expect(got.slice(0, 4)).toEqual([[pendingId], [pendingId], [pendingId], [pendingId]]);
    expect(got[4]).toEqual([]);
  });

  it.skipIf(!existsSync(BASH_COMPLETION))("bash: with bash-completion loaded, the wrapped command completes with its own completion", async () => {
    const [got] = await bashComplete([["guard", "run", "--env", "production", "--", "ssh-keygen", "-"]], `source ${BASH_COMPLETION}`);
    expect(got).toEqual(expect.arrayContaining(["-t", "-f", "-C"]));
  });
});

describe.skipIf(!has("zsh"))("guard completion zsh (needs zsh; skipped when it is not installed)", () => {
  const drive = async (lines: string[][]): Promise<string[]> => {
    const driver = [
      "autoload -Uz compinit && compinit -u -D",
      `source ${JSON.stringify(scripts.zsh)}`,
      'print -r -- "registered: $_comps[guard]"',
      // The completion builtins only work inside the line editor: print what they were given instead.
      '_describe() { print -r -- "describe ${(j:,:)${(@)${(P)4}%%:*}}"; }',
      'compadd() { [[ $1 == -a ]] && print -r -- "compadd ${(j:,:)${(P)2}}" || print -r -- "compadd ${(j:,:)@[2,-1]}"; }',
      '_files() { print -r -- "files $*"; }',
      '_normal() { print -r -- "normal $CURRENT ${(j:,:)words}"; }',
      '_message() { print -r -- "message"; }',
      't() { words=("$@"); CURRENT=$#words; _guard; }',
      ...lines.map((l) => `t ${l.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(" ")}`),
    ].join("\n");
    const { stdout } = await run("zsh", ["-f", "-c", driver], { env: shellEnv, cwd: world.dir });
    return stdout.trim().split("\n").map((l) => l.trimEnd());
  };

  it("the script parses, registers with compinit, and completes commands, options, values and the wrapped command", async () => {
    await run("zsh", ["-n", scripts.zsh]);
    const out = await drive([
      ["guard", "ru"],
      ["guard", "run", "--e"],
      ["guard", "policy", ""],
      ["guard", "run", "--policy", ""],
      ["guard", "run", "--key", ""],
      ["guard", "completion", ""],
      ["guard", "run", "--env=production", "--", "ls", "-"],
      ["guard", "check", "maint"],
      ["guard", "approve", ""],
    ]);
    expect(out[0]).toBe("registered: _guard");
    expect(out[1]).toContain("describe run,check,request,approve,deny,requests,show,policy,audit,whoami,init,completion,store,help");
    expect(out[2]).toMatch(/^describe --env,--reason,--confirm,--wait,--request,--break-glass,--policy,--store,--key,--json,-h,--help,--$/);
    expect(out.slice(3)).toEqual([
      "describe lint,test,schema,help",
      "files -/",
      "files",
      "compadd bash,zsh,fish",
      "normal 2 ls,-",
      "normal 1 maint",
      `compadd ${pendingId}`,
    ]);
  });
});

describe.skipIf(!has("fish"))("guard completion fish (needs fish; skipped when it is not installed)", () => {
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
    ["guard run --policy pol", ["policies/"]],
    ["guard run --env production -- maintenance/purge", ["maintenance/purge-lb-state.sh"]],
    ["guard -", ["--help", "--version", "-V", "-h"]],
  ])("%j → %j", async (line, expected) => {
    expect((await complete(line)).sort()).toEqual([...expected].sort());
  });

  it("request ids for approve and --request come from `guard requests`", async () => {
    expect(await complete("guard approve ")).toEqual([pendingId]);
    expect(await complete("guard run --request ")).toEqual([pendingId]);
  });
});
