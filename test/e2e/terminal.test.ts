/**
 * The interactive flows in a real terminal (tmux): the requester is asked for a reason, sees the approve
 * line and a live status, a second person approves at their own terminal by typing the environment's
 * name, the requester types it too, and the command runs once. Ctrl-C while waiting keeps the request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN, guard, makeWorld, requestIdIn, type World } from "./world.js";

const run = promisify(execFile);
const PROD = "postgres://app@prod-db.internal/elb";

let w: World;
let socket: string;
beforeAll(async () => {
  w = await makeWorld();
  socket = join(w.dir, "tmux.sock");
});
afterAll(async () => {
  await run("tmux", ["-S", socket, "kill-server"]).catch(() => undefined);
  await w.cleanup();
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Start `guard args…` as `who` in a new tmux window; its exit status lands in `<window>.exit`. */
async function startInTmux(name: string, who: string, args: string[], extraEnv: Record<string, string> = {}): Promise<void> {
  const env = { ...w.env, GUARD_KEY: w.people[who]!.key, TERM: "xterm-256color", ...extraEnv };
  const exports = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  const exitFile = join(w.dir, `${name}.exit`);
  const cmd = `cd ${shellQuote(w.dir)} && env -i ${exports} ${shellQuote(process.execPath)} ${shellQuote(BIN)} ${args.map(shellQuote).join(" ")}; echo $? > ${shellQuote(exitFile)}; sleep 600`;
  const exists = await run("tmux", ["-S", socket, "has-session", "-t", "guard"]).then(() => true, () => false);
  if (!exists) await run("tmux", ["-S", socket, "new-session", "-d", "-s", "guard", "-n", name, "-x", "220", "-y", "50", cmd]);
  else await run("tmux", ["-S", socket, "new-window", "-t", "guard", "-n", name, cmd]);
}

async function screen(name: string): Promise<string> {
  const { stdout } = await run("tmux", ["-S", socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", `guard:${name}`]);
  return stdout;
}

async function waitFor(name: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await screen(name);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in window ${name}:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function keys(name: string, ...k: string[]): Promise<void> {
  await run("tmux", ["-S", socket, "send-keys", "-t", `guard:${name}`, ...k]);
}

async function exitCode(name: string, timeoutMs = 20_000): Promise<number> {
  const file = join(w.dir, `${name}.exit`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (text.trim()) return Number(text.trim());
    if (Date.now() > deadline) throw new Error(`window ${name} did not finish:\n${await screen(name)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("at a terminal", () => {
  it("request with a typed reason, live wait, approval typed by a second person, typed confirmation, one run", async () => {
    await writeFile(join(w.dir, "maintenance", "purge-tty.sh"), "#!/bin/sh\necho \"purged from a terminal: $*\"\n", { mode: 0o755 });
    await startInTmux("alice", "alice", ["run", "--", "./maintenance/purge-tty.sh", "--region", "eu-west-1"], { DATABASE_URL: PROD });
    await waitFor("alice", /Reason for this run/);
    await keys("alice", "INC-77 stale listeners", "Enter");
    const waiting = await waitFor("alice", /waiting for approval of r-[a-z2-7]{20}/);
    expect(waiting).toContain("PROTECTED TARGET: PRODUCTION");
    expect(waiting).toMatch(/guard approve r-[a-z2-7]{20}/);
    expect(waiting).toMatch(/eligible: bob/);
    const id = requestIdIn(waiting);

    // Bob approves at his own terminal: he sees the request and must type the environment's name.
    await startInTmux("bob", "bob", ["approve", id]);
    const shown = await waitFor("bob", /Type production to approve/);
    expect(shown).toContain("INC-77 stale listeners");
    expect(shown).toContain("purge-tty.sh");
    await keys("bob", "staging", "Enter");
    expect(await exitCode("bob")).toBe(77);
    expect(await screen("bob")).toMatch(/does not match production; nothing was approved/);

    await startInTmux("bob2", "bob", ["approve", id, "--comment", "looks right"]);
    await waitFor("bob2", /Type production to approve/);
    await keys("bob2", "production", "Enter");
    expect(await exitCode("bob2")).toBe(0);

    // Alice's waiting guard wakes up and asks for her typed confirmation.
    await waitFor("alice", /Type production to run against it/);
    await keys("alice", "production", "Enter");
    expect(await exitCode("alice")).toBe(0);
    expect(await screen("alice")).toContain("purged from a terminal: --region eu-west-1");

    const show = JSON.parse((await guard(w, ["show", id, "--json"], { as: "alice" })).stdout);
    expect(show.status).toBe("consumed");
  });

  it("Ctrl-C while waiting stops waiting and keeps the request; running again finds it", async () => {
    await startInTmux("ctrlc", "alice", ["run", "--reason", "INC-78", "--", "./maintenance/purge-lb-state.sh", "--region", "ap-south-1"], { DATABASE_URL: PROD });
    const waiting = await waitFor("ctrlc", /waiting for approval of r-[a-z2-7]{20}/);
    const id = requestIdIn(waiting);
    await keys("ctrlc", "C-c");
    expect(await exitCode("ctrlc")).toBe(75);
    expect(await screen("ctrlc")).toMatch(/stopped waiting; request r-[a-z2-7]{20} is kept/);
    const show = JSON.parse((await guard(w, ["show", id, "--json"], { as: "alice" })).stdout);
    expect(show.status).toBe("pending");
    // Running the same command again at a terminal finds the kept request and waits for it again.
    await startInTmux("ctrlc2", "alice", ["run", "--reason", "INC-78", "--", "./maintenance/purge-lb-state.sh", "--region", "ap-south-1"], { DATABASE_URL: PROD });
    await waitFor("ctrlc2", new RegExp(`found request ${id} for this exact run`));
    await waitFor("ctrlc2", new RegExp(`waiting for approval of ${id}`));
    await keys("ctrlc2", "C-c");
    expect(await exitCode("ctrlc2")).toBe(75);
  });

  it("T1/T2: control sequences and bidi overrides in a reason reach the approver's screen escaped", async () => {
    const hostile = "fine\u001b[2J\u001b[H\nCommand: ./status.sh \u202Eevil";
    const r = await guard(w, ["run", "--confirm", "production", "--reason", hostile, "--", "./maintenance/purge-lb-state.sh", "--region", "t1"], { as: "alice", env: { DATABASE_URL: PROD } });
    expect(r.code).toBe(75);
    const id = requestIdIn(r.stderr);
    await startInTmux("t1", "bob", ["show", id]);
    const text = await waitFor("t1", /reason:/);
    expect(text).toContain("\\x1b[2J");
    expect(text).toContain("\\u202e");
    expect(text).toMatch(/WARNING: this request contains/);
    expect(text).not.toMatch(/^Command: \.\/status\.sh/m);
  });

  it("A14: break-glass at a terminal runs without approval, loudly, and stays on --review until a second person acknowledges it", async () => {
    const marker = join(w.dir, "bg-ran");
    await writeFile(join(w.dir, "maintenance", "purge-bg.sh"), `#!/bin/sh\necho broke glass >> ${marker}\n`, { mode: 0o755 });
    await startInTmux("bg", "alice", ["run", "--break-glass", "--reason", "SEV1: LB state corrupt, site down", "--", "./maintenance/purge-bg.sh"], { DATABASE_URL: PROD });
    const shown = await waitFor("bg", /Type production to run against it/);
    expect(shown).toContain("BREAK-GLASS");
    await keys("bg", "production", "Enter");
    expect(await exitCode("bg")).toBe(0);
    expect((await readFile(marker, "utf8")).trim()).toBe("broke glass");

    const review = (JSON.parse((await guard(w, ["requests", "--review", "--json"], { as: "bob" })).stdout) as { requests: Array<{ id: string; breakGlass: boolean; status: string }> }).requests;
    expect(review).toHaveLength(1);
    const id = review[0]!.id;
    expect(review[0]).toMatchObject({ breakGlass: true, status: "consumed" });
    const log = await guard(w, ["audit", "log", "--json", "--type", "breakglass.used"]);
    expect(log.stdout).toContain(id);

    // A second break-glass while the first is unreviewed is refused.
    await startInTmux("bg2", "alice", ["run", "--break-glass", "--reason", "again", "--", "./maintenance/purge-bg.sh"], { DATABASE_URL: PROD });
    expect(await exitCode("bg2")).toBe(77);
    expect(await screen("bg2")).toMatch(/has not been reviewed yet/);

    // Alice cannot review her own; dave (not in the break-glass groups) cannot; bob can.
    expect((await guard(w, ["approve", id, "--yes"], { as: "alice" })).code).toBe(77);
    expect((await guard(w, ["approve", id, "--yes"], { as: "dave" })).code).toBe(77);
    const ack = await guard(w, ["approve", id, "--yes", "--comment", "reviewed in the postmortem"], { as: "bob" });
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.stderr).toMatch(/acknowledged/);
    expect(JSON.parse((await guard(w, ["requests", "--review", "--json"], { as: "bob" })).stdout)).toEqual({ requests: [], damaged: [] });
  });

  it("S19: the break-glass index is a hint: a planted entry naming a normal request is passed over; a removed one hides the run from --review, `audit verify` names it (65), and a rebuilt index finds it again", async () => {
    const review = async (): Promise<string[]> => {
      const r = await guard(w, ["requests", "--review", "--json"], { as: "bob" });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { requests: Array<{ id: string }> }).requests.map((x) => x.id);
    };
    const verify = async (): Promise<{ code: number; problems: string[] }> => {
      const r = await guard(w, ["audit", "verify", "--json"]);
      return { code: r.code, problems: (JSON.parse(r.stdout) as { problems: string[] }).problems.filter((x) => x.includes("break-glass index")) };
    };
    const earlier = new Set(await review()); // none, unless an earlier test left one unreviewed
    await startInTmux("bg5", "alice", ["run", "--break-glass", "--reason", "SEV2: again", "--", "./maintenance/purge-lb-state.sh", "--region", "s19"], { DATABASE_URL: PROD });
    await waitFor("bg5", /Type production to run against it/);
    await keys("bg5", "production", "Enter");
    expect(await exitCode("bg5")).toBe(0);
    const mine = async (): Promise<string[]> => (await review()).filter((x) => !earlier.has(x));
    const listed = await mine();
    expect(listed).toHaveLength(1);
    const id = listed[0]!;
    const index = join(w.store, "index", "break-glass");
    expect(await readdir(index)).toContain(id);

    // A normal request planted in the index, and names that are no request, are passed over.
    const pending = await guard(w, ["run", "--confirm", "production", "--reason", "INC-9", "--", "./maintenance/purge-lb-state.sh", "--region", "s19"], { as: "carol", env: { DATABASE_URL: PROD } });
    expect(pending.code, pending.stderr).toBe(75);
    const normal = requestIdIn(pending.stderr);
    for (const name of [normal, "not-an-id", `${id}.json`]) await writeFile(join(index, name), "");
    expect(await mine()).toEqual([id]);

    // Removed: hidden, as removing the request would hide it; the records and the log still witness it.
    await rm(join(index, id));
    expect(await mine()).toEqual([]);
    const hidden = await verify();
    expect(hidden.code).toBe(65);
    expect(hidden.problems).toEqual([expect.stringContaining(`request ${id} is a break-glass run missing from the store's break-glass index`)]);

    // The documented repair: without index/v2 the next guard indexes the store's break-glass requests again.
    await rm(join(w.store, "index", "v2"));
    expect(await mine()).toEqual([id]);
    expect((await verify()).problems).toEqual([]);
    expect((await guard(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
  });

  it("A14: break-glass by someone outside the break-glass groups is refused, and nothing runs", async () => {
    await startInTmux("bg3", "dave", ["run", "--break-glass", "--reason", "I think it is urgent", "--", "./maintenance/purge-lb-state.sh", "--region", "x"], { DATABASE_URL: PROD });
    expect(await exitCode("bg3")).toBe(77);
    expect(await screen("bg3")).not.toMatch(/purged/);
  });
});
