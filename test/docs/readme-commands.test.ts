/**
 * Every command the README shows runs as shown (issue 17, "Must show"). Each ```sh / ```console block that
 * holds a guard command is run against a throwaway world, unless the comment just above it says otherwise:
 *
 *   <!-- readme-test: run in a new project -->               (the default) an empty directory, a HOME with an SSH key
 *   <!-- readme-test: run in the repository; exit 77 -->    from this repository, with its guard.config.yaml
 *   <!-- readme-test: not run — REASON -->                   illustrative; the reason names what covers it
 *
 * In a `sh` block the lines whose command is guard run (other lines, such as `npm install`, do not); in a
 * `console` block every `$ ` line runs, and each line of output shown under it must appear in what it
 * printed (`…` stands for anything). Every command must exit 0, or with the exit the comment names.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { BIN, ROOT } from "../e2e/world.js";

const run = promisify(execFile);

interface Block {
  line: number;
  lang: string;
  directive: string | null;
  commands: { text: string; expected: string[] }[];
}

/** A command line whose command (after NAME=VALUE assignments) is guard. */
const GUARD_LINE = /^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*guard\s/;

function blocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(sh|console|bash|shell)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let prev = i - 1;
    while (prev >= 0 && lines[prev]!.trim() === "") prev--;
    const directive = /^<!--\s*readme-test:\s*(.*?)\s*-->$/.exec(lines[prev] ?? "")?.[1] ?? null;
    const block: Block = { line: i + 1, lang: open[1]!, directive, commands: [] };
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) {
      const l = lines[i]!;
      if (block.lang === "console") {
        if (l.startsWith("$ ")) block.commands.push({ text: l.slice(2), expected: [] });
        else if (block.commands.length > 0 && l.trim() !== "") block.commands.at(-1)!.expected.push(l.trimEnd());
      } else if (GUARD_LINE.test(l)) {
        block.commands.push({ text: l.replace(/\s+#\s.*$/, ""), expected: [] });
      }
    }
    if (block.commands.some((c) => GUARD_LINE.test(c.text))) out.push(block);
  }
  return out;
}

/** An expected line as a pattern: `…` matches anything, the rest literally. */
const pattern = (line: string): RegExp => new RegExp(line.split("…").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*"));

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const BLOCKS = blocks(README);

describe("every command the README shows runs as shown", () => {
  it("finds the blocks, and every one is run or says why not", () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(3);
    for (const b of BLOCKS) {
      if (b.directive === null) continue;
      expect(b.directive, `README.md:${b.line}`).toMatch(/^(run in a new project|run in the repository(; exit \d+)?|not run — .+)$/);
    }
  });

  it.each(BLOCKS.filter((b) => !b.directive?.startsWith("not run")).map((b) => [`README.md:${b.line}`, b] as const))("%s", async (_where, b) => {
    const tmp = await mkdtemp(join(tmpdir(), "guard-readme-"));
    try {
      const home = join(tmp, "home");
      const bin = join(tmp, "bin");
      await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
      await mkdir(bin);
      // `guard` as an installed one would be: the built CLI on PATH.
      await writeFile(join(bin, "guard"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`, { mode: 0o755 });
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@example.com", "-f", join(home, ".ssh", "id_ed25519")]);
      const inRepo = b.directive?.startsWith("run in the repository") ?? false;
      const cwd = inRepo ? ROOT : join(tmp, "project");
      if (!inRepo) await mkdir(cwd, { mode: 0o755 });
      const exit = Number(/exit (\d+)/.exec(b.directive ?? "")?.[1] ?? 0);
      const env = { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: home, XDG_STATE_HOME: join(tmp, "state"), XDG_CACHE_HOME: join(tmp, "cache"), NO_COLOR: "1", LANG: "C.UTF-8" };
      for (const c of b.commands) {
        let code = 0;
        let output = "";
        try {
          const r = await run("sh", ["-c", `${c.text} 2>&1`], { cwd, env });
          output = r.stdout;
        } catch (e) {
          const err = e as { code?: number; stdout?: string };
          code = typeof err.code === "number" ? err.code : -1;
          output = err.stdout ?? "";
        }
        expect(code, `README.md:${b.line}: \`${c.text}\` exited ${code}:\n${output}`).toBe(exit);
        for (const line of c.expected) expect(output, `README.md:${b.line}: \`${c.text}\` did not print: ${line}`).toMatch(pattern(line));
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
