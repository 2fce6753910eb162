/**
 * Issue 14, end to end with the built CLI and real keys: every argument that names a file is bound by
 * content — shown to the approver, compared at run time before anything is consumed, and its limits
 * refused with a message.
 *
 * What runs where: the first case (a request made behind an `env` prefix, its file edited, the run refused)
 * goes through the built CLI end to end, and so does the run that waits for its approval (a second guard
 * while another approves). Every other call runs guard's whole command line in process
 * (test/helpers/in-process.ts guardIn), on the same world and store, saving a Node start per call.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, open, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN, guard, makeWorld, requestIdIn, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";
const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

let n = 0;
let ticket = "";
beforeEach(() => {
  n++;
  ticket = `--ticket=INC-${n}`;
});

async function requested(args: string[]): Promise<string> {
  const r = await guardIn(w, ["run", "--confirm", "production", "--reason", `INC-${n}`, "--", PURGE, ticket, ...args], { env: PROD, as: "alice" });
  expect(r.code, r.stderr).toBe(75);
  return requestIdIn(r.stderr);
}

async function approve(id: string): Promise<void> {
  const r = await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
  expect(r.code, r.stderr).toBe(0);
}

const runRequest = (id: string) => guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
const status = async (id: string): Promise<string> => JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "bob" })).stdout).status;

describe("a file argument edited after approval refuses the run (77) before anything is consumed", () => {
  it("behind an `env NAME=VALUE` prefix: indexes are into the argv as typed, the prefix's own values are not files", async () => {
    const name = `prefixed-${n}.sql`;
    await writeFile(join(w.dir, name), "SELECT 1;\n");
    const r = await guard(w, ["run", "--confirm", "production", "--reason", `INC-${n}`, "--", "env", `NOTE=${name}`, PURGE, ticket, name], { env: PROD, as: "alice" });
    expect(r.code, r.stderr).toBe(75);
    const id = requestIdIn(r.stderr);
    const shown = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "bob" })).stdout) as { request: { argv: string[]; files: Array<{ arg: number; name: string }> } };
    expect(shown.request.argv.slice(0, 3)).toEqual(["env", `NOTE=${name}`, PURGE]);
    expect(shown.request.files.map((f) => [f.arg, f.name])).toEqual([[4, name]]);
    await approve(id);
    await writeFile(join(w.dir, name), "DROP TABLE lb_state;\n");
    // Refused by the built CLI itself (the other runs below are in process).
    const refused = await guard(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
    expect(refused.code, refused.stderr).toBe(77);
    expect(refused.stderr).toContain(`file argv[4] ${name}`);
    expect(await status(id)).toBe("approved");
  });

  it.each<[string, (f: string) => string[], number]>([
    ["positional", (f) => [f], 2],
    ["--flag=PATH", (f) => [`--file=${f}`], 2],
    ["-f PATH", (f) => ["-f", f], 3],
  ])("%s", async (_, form, index) => {
    const name = `migration-${n}.sql`;
    const original = "DELETE FROM lb_state WHERE stale;\n";
    await writeFile(join(w.dir, name), original);
    const id = await requested(form(name));
    await approve(id);

    await writeFile(join(w.dir, name), "DELETE FROM lb_state;\n");
    const refused = await runRequest(id);
    expect(refused.code, refused.stderr).toBe(77);
    expect(refused.stderr).toContain(`file argv[${index}] ${name}`);
    expect(refused.stderr).toContain(sha(original));
    expect(refused.stderr).toContain(sha("DELETE FROM lb_state;\n"));
    expect(refused.stdout).toBe("");
    expect(await status(id)).toBe("approved");

    // The world changed back: the approval still runs, exactly once.
    await writeFile(join(w.dir, name), original);
    const ran = await runRequest(id);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe(`purged ${ticket} ${form(name).join(" ")}\n`);
    expect(await status(id)).toBe("consumed");
    expect((await runRequest(id)).code).toBe(77);
  });

  it("a file edited while the run waits for its approval: refused just before consuming, the approval not used", async () => {
    const name = `wait-${n}.sql`;
    await writeFile(join(w.dir, name), "SELECT 1;\n");
    const id = await requested([name]);
    const child = spawn(process.execPath, [BIN, "run", "--wait", "60s", "--confirm", "production", "--", PURGE, ticket, name], {
      cwd: w.dir,
      env: { ...w.env, ...PROD, GUARD_KEY: w.people.alice!.key },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    const exited = new Promise<number>((done) => child.on("close", (code) => done(code ?? -1)));
    await new Promise<void>((ready, fail) => {
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        if (stderr.includes(`waiting for approval of ${id}`)) ready();
      });
      child.on("close", () => fail(new Error(`guard exited before waiting:\n${stderr}`)));
    });
    await writeFile(join(w.dir, name), "DROP TABLE lb_state;\n");
    await approve(id);
    expect(await exited, stderr).toBe(77);
    expect(stderr).toContain(`file argv[2] ${name}`);
    expect(stderr).toMatch(/nothing ran and approval r-[a-z2-7]{20} was not used/);
    expect(stdout).toBe("");
    expect(await status(id)).toBe("approved");
  });

  it("the same command with an edited file is a new run: a new request, the approved one not consumed", async () => {
    const name = `edit-${n}.sql`;
    await writeFile(join(w.dir, name), "SELECT 1;\n");
    const id = await requested([name]);
    await approve(id);
    await writeFile(join(w.dir, name), "SELECT 2;\n");
    const r = await guardIn(w, ["run", "--reason", "again", "--confirm", "production", "--", PURGE, ticket, name], { env: PROD, as: "alice" });
    expect(r.code, r.stderr).toBe(75);
    expect(requestIdIn(r.stderr)).not.toBe(id);
    expect(await status(id)).toBe("approved");
  });

  it("a file that appears only after approval is a difference", async () => {
    const name = `later-${n}.sql`;
    const id = await requested([name]);
    await approve(id);
    await writeFile(join(w.dir, name), "DROP TABLE lb_state;\n");
    const r = await runRequest(id);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain(`file argv[2] ${name}`);
    expect(r.stderr).toMatch(/approved: \(names no file\)/);
    expect(await status(id)).toBe("approved");
  });

  it("a removed file is a difference", async () => {
    const name = `gone-${n}.sql`;
    await writeFile(join(w.dir, name), "SELECT 1;\n");
    const id = await requested([name]);
    await approve(id);
    await rm(join(w.dir, name));
    const r = await runRequest(id);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/now: +\(names no file\)/);
  });

  it("symbolic links are resolved: a link pointed at another file with the same content is a difference", async () => {
    await writeFile(join(w.dir, `a-${n}.sql`), "SELECT 1;\n");
    await writeFile(join(w.dir, `b-${n}.sql`), "SELECT 1;\n");
    await symlink(`a-${n}.sql`, join(w.dir, `link-${n}.sql`));
    const id = await requested([`link-${n}.sql`]);
    const shown = await guardIn(w, ["show", id], { as: "bob" });
    expect(shown.stderr + shown.stdout).toContain(join(w.dir, `a-${n}.sql`));
    await approve(id);
    await rm(join(w.dir, `link-${n}.sql`));
    await symlink(`b-${n}.sql`, join(w.dir, `link-${n}.sql`));
    const r = await runRequest(id);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain(join(w.dir, `b-${n}.sql`));
  });
});

describe("what the approver sees", () => {
  it("path, size, SHA-256 and the content of a small text file; --json carries the binding", async () => {
    const name = `show-${n}.sql`;
    const content = "BEGIN;\nDELETE FROM lb_state WHERE region = 'us-east-1';\nCOMMIT;\n";
    await writeFile(join(w.dir, name), content);
    const id = await requested(["-f", name]);
    const shown = await guardIn(w, ["show", id], { as: "bob" });
    const text = shown.stdout + shown.stderr;
    expect(text).toContain(`argv[3] ${name} → ${join(w.dir, name)}`);
    expect(text).toContain(`${Buffer.byteLength(content)} bytes, sha256 ${sha(content)}`);
    expect(text).toContain("| DELETE FROM lb_state WHERE region = 'us-east-1';");
    const approveOut = await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
    expect(approveOut.stdout + approveOut.stderr).toContain("| DELETE FROM lb_state WHERE region = 'us-east-1';");
    const json = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "bob" })).stdout);
    expect(json.request.files).toEqual([{ arg: 3, name, path: join(w.dir, name), type: "file", size: Buffer.byteLength(content), sha256: sha(content), text: content }]);
  });

  it("escape sequences in a file's content never reach the approver's terminal", async () => {
    const name = `evil-${n}.sql`;
    await writeFile(join(w.dir, name), "SELECT 1;\x1b[1A\x1b[2K-- harmless\u202e\n");
    const id = await requested([name]);
    for (const cmd of [["show", id], ["approve", id, "--yes"]]) {
      const r = await guardIn(w, cmd, { as: "bob" });
      const out = r.stdout + r.stderr;
      expect(out).not.toContain("\x1b");
      expect(out).not.toContain("\u202e");
      expect(out).toContain("| SELECT 1;\\x1b[1A\\x1b[2K-- harmless\\u202e");
      expect(out).toMatch(/WARNING: this request contains/);
    }
  });

  it("a binary or large file is shown by size and hash only; a directory is bound by name only, and said so", async () => {
    await writeFile(join(w.dir, `blob-${n}.bin`), Buffer.from([0, 1, 2, 255]));
    await writeFile(join(w.dir, `big-${n}.txt`), "x".repeat(5000));
    await mkdir(join(w.dir, `dir-${n}`));
    const id = await requested([`blob-${n}.bin`, `big-${n}.txt`, `dir-${n}`]);
    const out = (await guardIn(w, ["show", id], { as: "bob" })).stdout;
    expect(out).toMatch(/4 bytes, sha256 [0-9a-f]{64}\n +content not shown \(not UTF-8 text\)/);
    expect(out).toMatch(/5000 bytes, sha256 [0-9a-f]{64}\n +content not shown \(over 4096 bytes\)/);
    expect(out).toContain(`argv[4] dir-${n} → ${join(w.dir, `dir-${n}`)}`);
    expect(out).toContain("a directory: bound by its name only — what is inside it is NOT bound");
  });
});

describe("limits are refused with a message, and no request is made", () => {
  const noRequest = async (args: string[], message: RegExp): Promise<void> => {
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "x", "--", PURGE, ticket, ...args], { env: PROD, as: "alice" });
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/r-[a-z2-7]{20}/);
  };

  it("a file over 64 MiB", async () => {
    const f = await open(join(w.dir, `huge-${n}.img`), "w");
    await f.truncate(64 * 1024 * 1024 + 1);
    await f.close();
    await noRequest([`huge-${n}.img`], /argv\[2\] huge-\d+\.img names .* 67108865 bytes: guard binds files of at most 67108864 bytes/);
  });

  it("more than 32 files", async () => {
    const names = Array.from({ length: 33 }, (_, i) => `many-${n}-${i}.txt`);
    for (const name of names) await writeFile(join(w.dir, name), name);
    await noRequest(names, /names more than 32 files or directories/);
  });

  it("a FIFO", async () => {
    await promisify(execFile)("mkfifo", [join(w.dir, `pipe-${n}`)]);
    await noRequest([`pipe-${n}`], /argv\[2\] pipe-\d+ names .*a FIFO or pipe: its content cannot be shown to or bound by an approver/);
  });
});

describe("allowed runs do not hash their arguments", () => {
  it("a report naming a FIFO runs (it would be refused for a run that needs approval)", async () => {
    await promisify(execFile)("mkfifo", [join(w.dir, `allowed-pipe-${n}`)]);
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh", `allowed-pipe-${n}`], { env: PROD, as: "alice" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`report allowed-pipe-${n}\n`);
  });
});
