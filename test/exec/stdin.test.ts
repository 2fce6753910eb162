import { closeSync, openSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyStdin } from "../../src/adapters/stdin.js";
import { buildHarness, makeTempDir, removeDir, start } from "./helpers.js";

let dir: string;
let harness: string;
let dataFile: string;

beforeAll(async () => {
  dir = await makeTempDir("guard-stdin-");
  harness = await buildHarness(dir);
  dataFile = join(dir, "drop.sql");
  await writeFile(dataFile, "DROP TABLE users;\n");
});
afterAll(() => removeDir(dir));

describe("C10: classifyStdin on descriptors opened here", () => {
  const table = [
    { name: "a regular file", open: () => openSync(dataFile, "r"), kind: "file" },
    { name: "/dev/null", open: () => openSync("/dev/null", "r"), kind: "null" },
    { name: "/dev/zero (a character device that is not /dev/null)", open: () => openSync("/dev/zero", "r"), kind: "other" },
    { name: "a directory", open: () => openSync(dir, "r"), kind: "other" },
  ];
  it.each(table)("C10: $name → $kind", ({ open, kind }) => {
    const fd = open();
    try {
      expect(classifyStdin(fd)).toBe(kind);
    } finally {
      closeSync(fd);
    }
  });

  it("C10: a descriptor that is not open → closed", () => {
    const fd = openSync("/dev/null", "r");
    closeSync(fd);
    expect(classifyStdin(fd)).toBe("closed");
  });
});

/** Run the harness's `classify` with stdin set up by `sh -c` (a real shell redirection or pipe). */
async function classifyVia(shell: string, opts: { stdio?: "pipe" | "ignore" } = {}): Promise<string> {
  const proc = start("/bin/sh", ["-c", shell.replaceAll("GUARD", `"${process.execPath}" "${harness}" classify`)], {
    cwd: dir,
    stdio: [opts.stdio ?? "ignore", "pipe", "pipe"],
  });
  const { code, stdout, stderr } = await proc.done;
  expect(stderr).toBe("");
  expect(code).toBe(0);
  const match = /\{"kind":"([a-z]+)"\}/.exec(stdout);
  if (!match?.[1]) throw new Error(`no classification in ${JSON.stringify(stdout)}`);
  return match[1];
}

describe("C10: guard's own stdin, as a shell would hand it over", () => {
  it("C10: `cat drop.sql | guard` → pipe", async () => {
    expect(await classifyVia(`cat "${dataFile}" | GUARD`)).toBe("pipe");
  });

  it("C10: `guard < drop.sql` → file", async () => {
    expect(await classifyVia(`GUARD < "${dataFile}"`)).toBe("file");
  });

  it("C10: `guard < /dev/null` → null", async () => {
    expect(await classifyVia("GUARD < /dev/null")).toBe("null");
  });

  it("C10: `guard <&-` → null (Node reopens a closed fd 0 on /dev/null at start-up)", async () => {
    expect(await classifyVia("exec GUARD <&-")).toBe("null");
  });

  it("C10: a socket (what Node's own stdio 'pipe' really is) → socket", async () => {
    expect(await classifyVia("exec GUARD", { stdio: "pipe" })).toBe("socket");
  });

  it("C10: a terminal (a real pty from script(1)) → tty", async () => {
    expect(await classifyVia(`script -qec 'GUARD' /dev/null`)).toBe("tty");
  });
});
