/**
 * Terminal behaviour a new user meets (issue 17), in a real terminal: tmux, an 80-column window.
 * The waiting line fits the width (the pane gains no lines while waiting), times are local with their
 * zone, `--wait 2m` shows the wait left, a denial starts a line of its own, Ctrl-C at a question is 130.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN, guard, makeWorld, requestIdIn, type World } from "./world.js";

const run = promisify(execFile);
const PROD = "postgres://app@prod-db.internal/elb";
const COLUMNS = 80;

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

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function start(name: string, who: string, args: string[], extraEnv: Record<string, string> = {}): Promise<void> {
  const env = { ...w.env, GUARD_KEY: w.people[who]!.key, TERM: "xterm-256color", ...extraEnv };
  const exports = Object.entries(env).map(([k, v]) => `${k}=${q(v)}`).join(" ");
  const cmd = `cd ${q(w.dir)} && env -i ${exports} ${q(process.execPath)} ${q(BIN)} ${args.map(q).join(" ")}; echo $? > ${q(join(w.dir, `${name}.exit`))}; sleep 600`;
  const exists = await run("tmux", ["-S", socket, "has-session", "-t", "ev"]).then(() => true, () => false);
  if (!exists) await run("tmux", ["-S", socket, "new-session", "-d", "-s", "ev", "-n", name, "-x", String(COLUMNS), "-y", "40", cmd]);
  else await run("tmux", ["-S", socket, "new-window", "-t", "ev", "-n", name, cmd]);
}

/** The pane's rows as shown (wrapped lines are separate rows), trailing empty rows dropped. */
async function rows(name: string): Promise<string[]> {
  const { stdout } = await run("tmux", ["-S", socket, "capture-pane", "-p", "-S", "-200", "-t", `ev:${name}`]);
  const lines = stdout.split("\n");
  while (lines.length && lines[lines.length - 1]!.trim() === "") lines.pop();
  return lines;
}

/** The pane's text with wrapped lines joined. */
async function joined(name: string): Promise<string> {
  const { stdout } = await run("tmux", ["-S", socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", `ev:${name}`]);
  return stdout;
}

async function waitFor(name: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await joined(name);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in ${name}:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function exitCode(name: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(join(w.dir, `${name}.exit`), "utf8").catch(() => "");
    if (text.trim()) return Number(text.trim());
    if (Date.now() > deadline) throw new Error(`${name} did not finish:\n${(await rows(name)).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const keys = (name: string, ...k: string[]): Promise<unknown> => run("tmux", ["-S", socket, "send-keys", "-t", `ev:${name}`, ...k]);

describe("in an 80-column terminal", () => {
  it("the waiting line fits the width and the pane gains no lines; --wait shows the wait left; local times; a denial on its own line", async () => {
    await start("wait", "alice", ["run", "--wait", "2m", "--reason", "INC-80 narrow terminal", "--", "./maintenance/purge-lb-state.sh", "--region", "eu-north-1"], {
      DATABASE_URL: PROD,
      TZ: "Europe/Berlin",
    });
    const first = await waitFor("wait", /waiting for approval of r-[a-z2-7]{20}/);
    const id = requestIdIn(first);
    // Local time with its zone, not ISO UTC.
    expect(first).toMatch(/expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\+[12]/);
    expect(first).not.toMatch(/expires \d{4}-\d\d-\d\dT/);
    const before = await rows("wait");
    // The wait left (2m), not the request's lifetime (30m).
    expect(before[before.length - 1]).toMatch(/— (2m|1m\d+s) left/);
    await new Promise((r) => setTimeout(r, 3500));
    const after = await rows("wait");
    expect(after.length).toBe(before.length);
    const live = after[after.length - 1]!;
    expect(live).toMatch(/^waiting for approval of r-[a-z2-7]{20}: approvals 0\/1 sre/);
    expect([...live].length).toBeLessThanOrEqual(COLUMNS - 1);
    expect(live).toMatch(/…$/);

    const deny = await guard(w, ["deny", id, "--reason", "not now"], { as: "bob" });
    expect(deny.code, deny.stderr).toBe(0);
    expect(await exitCode("wait")).toBe(77);
    const end = await joined("wait");
    expect(end).toMatch(new RegExp(`^guard: request ${id} was denied by bob`, "m"));
  });

  it("Ctrl-C at the reason prompt exits 130 and creates no request", async () => {
    await start("reason", "alice", ["run", "--", "./maintenance/purge-lb-state.sh", "--region", "ctrl-c"], { DATABASE_URL: PROD });
    await waitFor("reason", /Reason for this run/);
    await keys("reason", "C-c");
    expect(await exitCode("reason")).toBe(130);
    expect((await rows("reason")).join("\n")).toMatch(/cancelled: no request was created/);
    const all = (JSON.parse((await guard(w, ["requests", "--all", "--json"], { as: "alice" })).stdout) as { requests: Array<{ argv: string[] }> }).requests;
    expect(all.some((r) => r.argv.includes("ctrl-c"))).toBe(false);
  });
});

describe("deny at a terminal", () => {
  it("without --reason, asks for the reason after showing the request", async () => {
    const r = await guard(w, ["request", "--reason", "INC-81", "--", "./maintenance/purge-lb-state.sh", "--region", "deny-tty"], { as: "alice", env: { DATABASE_URL: PROD } });
    const id = r.stdout.trim();
    await start("deny", "bob", ["deny", id]);
    const shown = await waitFor("deny", /Reason for the refusal/);
    expect(shown).toContain("INC-81");
    await keys("deny", "wrong region", "Enter");
    expect(await exitCode("deny")).toBe(0);
    const show = JSON.parse((await guard(w, ["show", id, "--json"], { as: "bob" })).stdout) as { status: string; approvals: Array<{ comment: string }> };
    expect(show.status).toBe("denied");
    expect(show.approvals.map((a) => a.comment)).toContain("wrong region");
  });
});

describe("guard requests at a terminal", () => {
  it("is a table with headers: approvals n/m, local expiry, the reason escaped", async () => {
    const r = await guard(w, ["request", "--reason", "INC-82 \u001b[31mred", "--", "./maintenance/purge-lb-state.sh", "--region", "table"], { as: "alice", env: { DATABASE_URL: PROD } });
    const id = r.stdout.trim();
    await start("table", "bob", ["requests"], { TZ: "UTC" });
    await waitFor("table", /^ID +STATUS +ENVIRONMENT +REQUESTER +APPROVALS +EXPIRES +REASON +COMMAND/m);
    // The header can reach the pane before the rows do (a loaded machine): wait for the request's row, whole.
    const text = await waitFor("table", new RegExp(`^${id} .*--region table`, "m"));
    const row = text.split("\n").find((l) => l.startsWith(id))!;
    expect(row).toMatch(/pending +production +alice +0\/1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +INC-82 \\x1b\[31mred/);
    expect(row).toContain("maintenance/purge-lb-state.sh --region table");
  });
});

describe("approve with a passphrase-protected key", () => {
  it("a wrong passphrase is asked again at a terminal, and the approval goes through", async () => {
    const { copyFile } = await import("node:fs/promises");
    const key = join(w.home, "bob_passphrase");
    await copyFile(w.people.bob!.key, key);
    await copyFile(w.people.bob!.pub, `${key}.pub`);
    await run("ssh-keygen", ["-q", "-p", "-f", key, "-P", "", "-N", "correct horse"]);
    const r = await guard(w, ["request", "--reason", "INC-14", "--", "./maintenance/purge-lb-state.sh", "--region", "pp"], { as: "alice", env: { DATABASE_URL: PROD } });
    const id = r.stdout.trim();
    await start("pp", "bob", ["approve", id], { GUARD_KEY: key });
    await waitFor("pp", /Type production to approve/);
    await keys("pp", "production", "Enter");
    await waitFor("pp", /passphrase/i);
    await keys("pp", "wrong one", "Enter");
    await waitFor("pp", /not accepted; try again \(1 of 3/);
    await waitFor("pp", /passphrase[^\n]*:\s*$/i);
    await keys("pp", "correct horse", "Enter");
    expect(await exitCode("pp")).toBe(0);
    expect(JSON.parse((await guard(w, ["show", id, "--json"], { as: "bob" })).stdout).status).toBe("approved");
  });
});
