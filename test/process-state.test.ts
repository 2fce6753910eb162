import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { leftBehind, processState, stillLeftBehind, type ProcessState } from "./helpers/process-state.js";

/** The check every test file passes before the next file runs in its process (test/setup/process-state.ts). */
describe("what a test file leaves behind for the next", () => {
  const base: ProcessState = {
    env: { PATH: "/usr/bin", HOME: "/root" },
    cwd: "/work",
    exitCode: undefined,
    listeners: { SIGTERM: 0, exit: 1 },
    resources: { TCPSocketWrap: 1, ProcessWrap: 0 },
    fakeTimers: false,
  };
  const cases: [string, Partial<ProcessState>, string[]][] = [
    ["nothing changed", {}, []],
    ["a variable set", { env: { ...base.env, PGHOST: "db" } }, ['process.env.PGHOST: undefined → "db"']],
    ["a variable removed", { env: { PATH: "/usr/bin" } }, ['process.env.HOME: "/root" → undefined']],
    ["a variable changed", { env: { ...base.env, PATH: "/tmp" } }, ['process.env.PATH: "/usr/bin" → "/tmp"']],
    ["the working directory", { cwd: "/tmp" }, ["the working directory: /work → /tmp"]],
    ["an exit code", { exitCode: 1 }, ["process.exitCode: undefined → 1"]],
    ["a signal handler added", { listeners: { SIGTERM: 1, exit: 1 } }, ["listeners for process 'SIGTERM': 0 → 1"]],
    ["an exit handler removed", { listeners: { SIGTERM: 0, exit: 0 } }, ["listeners for process 'exit': 1 → 0"]],
    ["a socket left open", { resources: { TCPSocketWrap: 2, ProcessWrap: 0 } }, ["open TCPSocketWrap: 1 → 2"]],
    ["a child left running", { resources: { TCPSocketWrap: 1, ProcessWrap: 1 } }, ["open ProcessWrap: 0 → 1"]],
    ["a socket that was open before, ended", { resources: { TCPSocketWrap: 0, ProcessWrap: 0 } }, []],
    ["fake timers left on", { fakeTimers: true }, ["fake timers are still on (vi.useRealTimers())"]],
  ];
  it.each(cases)("%s", (_, change, expected) => {
    expect(leftBehind(base, { ...base, ...change })).toEqual(expected);
  });

  it("sees a real server and a real child until they are ended", async () => {
    const before = processState(false);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      expect(leftBehind(before, processState(false))).toEqual(["open TCPServerWrap: 0 → 1", "open ProcessWrap: 0 → 1"]);
    } finally {
      child.kill();
      await exited;
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await stillLeftBehind(before, false)).toEqual([]);
  });

  it("answers at once, without waiting on timers, when fake timers were left on", async () => {
    const before = processState(false);
    expect(await stillLeftBehind(before, true)).toEqual(["fake timers are still on (vi.useRealTimers())"]);
  });
});
