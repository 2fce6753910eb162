import { createHash } from "node:crypto";
import { appendFile, chmod, lchown, mkdir, readFile, realpath, rename, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeProgram, hashProgram, resolveProgram, verifyChain, verifyUnchanged } from "../../src/adapters/program.js";
import { GuardError } from "../../src/core/errors.js";
import { makeTempDir, removeDir, writeScript } from "./helpers.js";

/**
 * Layout (root is the policy root):
 *   root/policies/            a cwd elsewhere in the tree
 *   root/scripts/m.sh         0755
 *   root/scripts/notes.sh     0644
 *   root/scripts/sub/         a directory
 *   root/links/m              symlink → ../scripts/m.sh
 *   root/bin/psql, root/evil/psql, root/noexec/psql (0644), root/dirs/psql/ (a directory)
 */
let root: string;
let outside: string;
let real: (p: string) => string;

beforeAll(async () => {
  root = await realpath(await makeTempDir("guard-program-"));
  outside = await realpath(await makeTempDir("guard-outside-"));
  real = (p) => join(root, p);
  for (const d of ["policies", "scripts/sub", "links", "bin", "evil", "noexec", "dirs/psql"]) await mkdir(real(d), { recursive: true });
  await writeScript(real("scripts"), "m.sh", "#!/bin/sh\necho maintenance\n");
  await writeScript(real("scripts"), "notes.sh", "#!/bin/sh\necho notes\n", 0o644);
  await symlink("../scripts/m.sh", real("links/m"));
  await writeScript(real("bin"), "psql", "#!/bin/sh\necho real psql\n");
  await writeScript(real("evil"), "psql", "#!/bin/sh\necho evil psql\n");
  await writeScript(real("noexec"), "psql", "#!/bin/sh\necho not executable\n", 0o644);
  await writeScript(outside, "tool.sh", "#!/bin/sh\n");
});
afterAll(async () => {
  await removeDir(root);
  await removeDir(outside);
});

async function failure(promise: Promise<unknown>): Promise<GuardError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof GuardError)) throw new Error(`expected a GuardError, got ${String(error)}`);
  return error;
}

const resolveIn = (argv0: string, cwd: string, path: string | undefined = "/usr/bin:/bin") => resolveProgram(argv0, { cwd, path, policyRoot: root });

describe("C1: every spelling of one script resolves to one real path", () => {
  const table = [
    { given: "./scripts/../scripts/m.sh", cwd: "" },
    { given: "scripts//m.sh", cwd: "" },
    { given: "./scripts/./m.sh", cwd: "" },
    { given: "../scripts/m.sh", cwd: "policies" },
    { given: "../../scripts/m.sh", cwd: "scripts/sub" },
    { given: "links/m", cwd: "" },
  ];
  it.each(table)("C1: $given from ./$cwd", async ({ given, cwd }) => {
    const program = await resolveIn(given, real(cwd));
    expect(program).toMatchObject({ given, path: real("scripts/m.sh"), relativeToRoot: "scripts/m.sh", base: "m.sh" });
  });

  it("C1: an absolute path, and the base name as typed is kept apart from the real one", async () => {
    expect(await resolveIn(real("scripts/m.sh"), outside)).toMatchObject({ path: real("scripts/m.sh"), relativeToRoot: "scripts/m.sh" });
    expect(await resolveIn("links/m", root)).toMatchObject({ base: "m.sh", givenBase: "m" });
  });

  it("a program outside the policy root has no relative path", async () => {
    expect(await resolveIn(join(outside, "tool.sh"), root)).toMatchObject({ path: join(outside, "tool.sh"), relativeToRoot: null, base: "tool.sh" });
  });

  it("a policy root that cannot be resolved is a configuration error (78)", async () => {
    const error = await failure(resolveProgram("./scripts/m.sh", { cwd: root, path: undefined, policyRoot: join(root, "missing") }));
    expect(error.exitCode).toBe(78);
  });
});

describe("C3: PATH lookup follows execvp, so shadowing shows up as a different path", () => {
  const table = [
    { name: "plain PATH", path: () => `${real("bin")}:/usr/bin`, cwd: "", expected: "bin/psql" },
    { name: "PATH=./evil:$PATH shadows it", path: () => `./evil:${real("bin")}`, cwd: "", expected: "evil/psql" },
    { name: "an empty PATH entry means the working directory", path: () => `:${real("bin")}`, cwd: "evil", expected: "evil/psql" },
    { name: '"." means the working directory', path: () => `.:${real("bin")}`, cwd: "evil", expected: "evil/psql" },
    { name: "a file without execute permission is skipped", path: () => `${real("noexec")}:${real("bin")}`, cwd: "", expected: "bin/psql" },
    { name: "a directory of the same name is skipped", path: () => `${real("dirs")}:${real("evil")}`, cwd: "", expected: "evil/psql" },
    { name: "a missing PATH entry is skipped", path: () => `${real("nowhere")}:${real("bin")}`, cwd: "", expected: "bin/psql" },
  ];
  it.each(table)("C3: $name", async ({ path, cwd, expected }) => {
    const program = await resolveIn("psql", real(cwd), path());
    expect(program).toMatchObject({ given: "psql", path: real(expected), relativeToRoot: expected, base: "psql", givenBase: "psql" });
  });

  it("C3: unset PATH searches /bin:/usr/bin", async () => {
    const program = await resolveIn("sh", root, undefined);
    expect(program.path).toBe(await realpath("/bin/sh"));
  });

  it("X5: only a non-executable file on PATH → 126; only a directory, or nothing → 127", async () => {
    const notRunnable = await failure(resolveIn("psql", root, `${real("dirs")}:${real("noexec")}`));
    expect(notRunnable.exitCode).toBe(126);
    expect(notRunnable.message).toBe("not executable: psql (mode 0644)");
    expect((await failure(resolveIn("psql", root, real("dirs")))).exitCode).toBe(127);
    const missing = await failure(resolveIn("no-such-command-xyz", root, `${real("bin")}:/usr/bin`));
    expect(missing.exitCode).toBe(127);
    expect(missing.message).toBe("command not found: no-such-command-xyz");
    expect(missing.hint).toBeTruthy();
  });
});

describe("X5: not found and not executable, before anything else", () => {
  it("X5: a path that does not exist → 127", async () => {
    const error = await failure(resolveIn("./scripts/nope.sh", root));
    expect([error.exitCode, error.message]).toEqual([127, "command not found: ./scripts/nope.sh"]);
  });

  it("X5: a path through a file, not a directory → 127", async () => {
    expect((await failure(resolveIn("./scripts/m.sh/x", root))).exitCode).toBe(127);
  });

  it("X5: mode 0644 → 126 naming the mode", async () => {
    const error = await failure(resolveIn("./scripts/notes.sh", root));
    expect([error.exitCode, error.message]).toEqual([126, "not executable: ./scripts/notes.sh (mode 0644)"]);
    expect(error.hint).toContain("chmod +x");
  });

  it("X5: a directory → 126", async () => {
    const error = await failure(resolveIn("./scripts/sub", root));
    expect([error.exitCode, error.message]).toEqual([126, "not executable: ./scripts/sub is a directory"]);
  });

  it("X5: a FIFO → 126", async () => {
    execFileSync("mkfifo", [real("scripts/fifo")]);
    await chmod(real("scripts/fifo"), 0o755);
    const error = await failure(resolveIn("./scripts/fifo", root));
    expect(error.exitCode).toBe(126);
    expect(error.message).toContain("not a regular file");
  });

  it("X5: a symlink loop → 126", async () => {
    await symlink("loop-b", real("links/loop-a"));
    await symlink("loop-a", real("links/loop-b"));
    expect((await failure(resolveIn("./links/loop-a", root))).exitCode).toBe(126);
  });

  it("an empty command name → 127; a NUL byte → usage (64)", async () => {
    expect((await failure(resolveIn("", root))).exitCode).toBe(127);
    expect((await failure(resolveIn("./scripts/m.sh\0x", root))).exitCode).toBe(64);
  });
  // Not tested here: a noexec mount (needs a mount; it surfaces at spawn as EACCES → 126, see exec tests),
  // and "not readable" on hashing (the suite runs as root, who can read everything).
});

/** A fresh copy of a script for tests that modify it. */
let copies = 0;
async function freshScript(body = "#!/bin/sh\necho original\n"): Promise<string> {
  return writeScript(root, `victim-${++copies}.sh`, body);
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

describe("hashProgram", () => {
  it("hashes the exact bytes and reports the file's identity", async () => {
    const file = await freshScript();
    const st = await stat(file);
    const { sha256: digest, identity } = await hashProgram(file);
    expect(digest).toBe(sha256(await readFile(file)));
    expect(identity).toEqual({ dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode });
  });

  it("hashes a file larger than one read chunk", async () => {
    const file = join(root, "big.bin");
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 0xab);
    await writeFile(file, bytes);
    expect((await hashProgram(file)).sha256).toBe(sha256(bytes));
  });

  it("C2: refuses a path that is a symlink (it was realpath'ed, so a symlink means it was swapped) → 77", async () => {
    const error = await failure(hashProgram(real("links/m")));
    expect(error.exitCode).toBe(77);
    expect(error.message).toContain("the program changed while guard was checking it");
  });
});

describe("C2, C4: verifyUnchanged just before exec", () => {
  it("passes when nothing changed", async () => {
    const file = await freshScript();
    await expect(verifyUnchanged(file, await hashProgram(file))).resolves.toBeUndefined();
  });

  it("C2: the script replaced by a symlink to another script → 77", async () => {
    const file = await freshScript();
    const hashed = await hashProgram(file);
    const drop = await writeScript(root, `drop-${copies}.sh`, "#!/bin/sh\necho DROP\n");
    await symlink(drop, `${file}.tmp`);
    await rename(`${file}.tmp`, file);
    const error = await failure(verifyUnchanged(file, hashed));
    expect(error.exitCode).toBe(77);
    expect(error.message).toContain("was replaced by a symbolic link");
    expect(error.details.join("\n")).toContain(drop);
  });

  it("C2: the script swapped for another file with the same bytes → 77, inode changed", async () => {
    const file = await freshScript();
    const hashed = await hashProgram(file);
    await writeScript(root, "swap.tmp", await readFile(file, "utf8"));
    await rename(join(root, "swap.tmp"), file);
    const error = await failure(verifyUnchanged(file, hashed));
    expect(error.exitCode).toBe(77);
    expect(error.message).toMatch(/^program was replaced \(inode changed: /);
  });

  it("C2: the script swapped for another file with other bytes → 77, the hash named first", async () => {
    const file = await freshScript();
    const hashed = await hashProgram(file);
    await writeScript(root, "swap.tmp", "#!/bin/sh\necho DROP\n");
    await rename(join(root, "swap.tmp"), file);
    const error = await failure(verifyUnchanged(file, hashed));
    expect(error.message).toMatch(/^program SHA-256 differs from the approved one: approved [0-9a-f]{16}…, now [0-9a-f]{16}…$/);
    expect(error.details.join("\n")).toContain("inode changed");
  });

  it("C2: the script removed → 77", async () => {
    const file = await freshScript();
    const hashed = await hashProgram(file);
    await rm(file);
    const error = await failure(verifyUnchanged(file, hashed));
    expect(error.exitCode).toBe(77);
    expect(error.message).toContain("is gone");
  });

  const edits: { name: string; edit: (file: string) => Promise<void>; headline: RegExp; detail?: string }[] = [
    { name: "a line appended", edit: (f) => appendFile(f, "rm -rf /\n"), headline: /^program SHA-256 differs/, detail: "program size changed" },
    {
      name: "same size, times put back",
      edit: async (f) => {
        const st = await stat(f);
        await writeFile(f, (await readFile(f, "utf8")).replace("original", "ORIGINAL"));
        await utimes(f, st.atime, st.mtime);
      },
      headline: /^program SHA-256 differs/,
      detail: "status-change time changed",
    },
    {
      name: "touched only (same bytes)",
      edit: async (f) => {
        const later = new Date(Date.now() + 60_000);
        await utimes(f, later, later);
      },
      headline: /^program modification time changed: /,
    },
    { name: "mode changed", edit: (f) => chmod(f, 0o4755), headline: /^program mode changed: 0755 → 4755$/ },
  ];
  it.each(edits)("C4: $name → 77 naming the field", async ({ edit, headline, detail }) => {
    const file = await freshScript();
    const hashed = await hashProgram(file);
    await edit(file);
    const error = await failure(verifyUnchanged(file, hashed));
    expect(error.exitCode).toBe(77);
    expect(error.message).toMatch(headline);
    if (detail) expect(error.details.join("\n")).toContain(detail);
    expect(error.hint).toBeTruthy();
  });
});

describe("describeProgram: what the approver is told about the program", () => {
  const table = [
    { name: "#!/usr/bin/env bash", body: "#!/usr/bin/env bash\necho hi\n", kind: "script", interpreter: "#!/usr/bin/env bash", limit: "looked up on PATH" },
    { name: "#!/bin/sh with CRLF", body: "#!/bin/sh\r\necho hi\r\n", kind: "script", interpreter: "#!/bin/sh", limit: "interpreter itself is not hashed" },
    { name: "no #! line", body: "echo hi\n", kind: "shell", interpreter: null, limit: "/bin/sh" },
    { name: "empty file", body: "", kind: "shell", interpreter: null, limit: "/bin/sh" },
  ] as const;
  it.each(table)("$name", async ({ body, kind, interpreter, limit }) => {
    const file = await freshScript(body);
    const description = await describeProgram(file);
    expect(description).toMatchObject({ kind, interpreter });
    expect(description.limits.join("\n")).toContain(limit);
  });

  it("C5: a script's description says that sourced files are not hashed", async () => {
    const description = await describeProgram(await freshScript());
    expect(description.limits.join("\n")).toContain("sources or reads");
  });

  it("an ELF binary", async () => {
    expect(await describeProgram(await realpath("/bin/true"))).toMatchObject({ kind: "binary", interpreter: null });
  });

  it("C2: a symlink is refused → 77", async () => {
    expect((await failure(describeProgram(real("links/m")))).exitCode).toBe(77);
  });
});

describe("issue 19: a program reached through symbolic links runs by the path found, and only if nobody else can change it", () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(root, "via");
    await mkdir(join(dir, "bin"), { recursive: true, mode: 0o755 });
    await mkdir(join(dir, "lib"), { recursive: true, mode: 0o755 });
    await writeScript(join(dir, "lib"), "multi", "#!/bin/sh\necho \"$0\"\n");
    await writeScript(join(dir, "lib"), "multi-copy", "#!/bin/sh\necho \"$0\"\n");
    await symlink("../lib/multi", join(dir, "bin", "applet"));
    await symlink("applet", join(dir, "bin", "applet2"));
  });

  it("records the path found on PATH and every link to the real file", async () => {
    const p = await resolveIn("applet2", root, `${join(dir, "bin")}:/usr/bin`);
    expect(p).toMatchObject({ path: join(dir, "lib", "multi"), base: "multi", givenBase: "applet2" });
    expect(p.via).toEqual({
      path: join(dir, "bin", "applet2"),
      links: [
        { path: join(dir, "bin", "applet2"), target: "applet" },
        { path: join(dir, "bin", "applet"), target: "../lib/multi" },
      ],
    });
  });

  it("a program at its real path has no via: nothing changes for it", async () => {
    expect((await resolveIn(join(dir, "lib", "multi"), root)).via).toBeUndefined();
  });

  it("a link in a directory its group can write → 77 naming the directory and its mode", async () => {
    const open = join(dir, "group-writable");
    await mkdir(open, { mode: 0o755 });
    await chmod(open, 0o775);
    await symlink("../lib/multi", join(open, "applet"));
    const e = await failure(resolveIn(join(open, "applet"), root));
    expect(e.exitCode).toBe(77);
    expect(e.message).toContain(`directory ${open} is writable by its group (mode 0775)`);
    expect(e.hint).toMatch(/chmod go-w/);
  });

  it("a sticky shared directory (like /tmp) is accepted for an entry owned by root or you", async () => {
    const sticky = join(dir, "sticky");
    await mkdir(sticky, { mode: 0o755 });
    await chmod(sticky, 0o1777);
    await symlink("../lib/multi", join(sticky, "applet"));
    expect((await resolveIn(join(sticky, "applet"), root)).via?.path).toBe(join(sticky, "applet"));
  });

  it.runIf(process.getuid?.() === 0)("…but not for an entry another user owns, who could replace it", async () => {
    const sticky = join(dir, "sticky2");
    await mkdir(sticky, { mode: 0o755 });
    await chmod(sticky, 0o1777);
    await symlink("../lib/multi", join(sticky, "applet"));
    await lchown(join(sticky, "applet"), 65534, 65534);
    const e = await failure(resolveIn(join(sticky, "applet"), root));
    expect(e.exitCode).toBe(77);
    expect(e.message).toMatch(/owned by uid 65534 in the shared directory/);
  });

  it.runIf(process.getuid?.() === 0)("a directory on the way owned by another user → 77", async () => {
    const theirs = join(dir, "theirs");
    await mkdir(theirs, { mode: 0o755 });
    await symlink("../lib/multi", join(theirs, "applet"));
    await lchown(theirs, 65534, 65534);
    const e = await failure(resolveIn(join(theirs, "applet"), root));
    expect(e.exitCode).toBe(77);
    expect(e.message).toContain(`directory ${theirs} is owned by uid 65534, not by root or you`);
  });

  describe("verifyChain, immediately before exec", () => {
    const fresh = async (name: string): Promise<string> => {
      const link = join(dir, "bin", name);
      await symlink("../lib/multi", link);
      return link;
    };

    it("passes when nothing changed", async () => {
      const link = await fresh("same");
      const p = await resolveIn(link, root);
      await expect(verifyChain(p, (await hashProgram(p.path)).identity)).resolves.toBeUndefined();
    });

    it("the link pointed elsewhere (at a file with the same bytes) → 77 naming old and new links", async () => {
      const link = await fresh("repointed");
      const p = await resolveIn(link, root);
      const hashed = await hashProgram(p.path);
      await rm(link);
      await symlink("../lib/multi-copy", link);
      const e = await failure(verifyChain(p, hashed.identity));
      expect(e.exitCode).toBe(77);
      expect(e.message).toMatch(/symbolic links from .* were changed/);
      expect(e.details.join("\n")).toContain(`now:      ${link} -> ../lib/multi-copy`);
    });

    it("the link replaced by a regular file → 77", async () => {
      const link = await fresh("flattened");
      const p = await resolveIn(link, root);
      const hashed = await hashProgram(p.path);
      await rm(link);
      await writeScript(join(dir, "bin"), "flattened", "#!/bin/sh\necho evil\n");
      expect((await failure(verifyChain(p, hashed.identity))).exitCode).toBe(77);
    });

    it("the real file swapped behind an unchanged link → 77 (not the file that was hashed)", async () => {
      await writeScript(join(dir, "lib"), "swapped", "#!/bin/sh\necho one\n");
      await symlink("../lib/swapped", join(dir, "bin", "swapper"));
      const p = await resolveIn(join(dir, "bin", "swapper"), root);
      const hashed = await hashProgram(p.path);
      await writeScript(join(dir, "lib"), "swapped.new", "#!/bin/sh\necho one\n");
      await rename(join(dir, "lib", "swapped.new"), join(dir, "lib", "swapped"));
      const e = await failure(verifyChain(p, hashed.identity));
      expect(e.exitCode).toBe(77);
      expect(e.message).toMatch(/no longer leads to the file that was hashed/);
    });

    it("a directory on the way made writable by others after resolving → 77", async () => {
      const sub = join(dir, "later");
      await mkdir(sub, { mode: 0o755 });
      await symlink("../lib/multi", join(sub, "applet"));
      const p = await resolveIn(join(sub, "applet"), root);
      await chmod(sub, 0o777);
      const e = await failure(verifyChain(p, null));
      expect(e.exitCode).toBe(77);
      expect(e.message).toContain(`directory ${sub} is writable by its group and everyone`);
    });
  });
});
