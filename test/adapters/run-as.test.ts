import { describe, expect, it } from "vitest";
import { resolveInvoker } from "../../src/adapters/run-as.js";

const passwd = (name: string): string | null => (name === "dev" ? "dev:x:1001:1002:Dev:/home/dev:/bin/sh" : null);
const sudo = { SUDO_USER: "dev", SUDO_UID: "1001", SUDO_GID: "1002" };
const base = { systemConfig: "/etc/access-guard/config.yaml", passwd };

describe("resolveInvoker (run_as: invoking-user)", () => {
  it("root started by sudo: the invoker, from the user database, to switch to", () => {
    expect(resolveInvoker({ ...base, env: sudo, uid: 0, euid: 0 })).toEqual({ user: "dev", uid: 1001, gid: 1002, home: "/home/dev", switchUid: true });
  });

  it("already running as the invoker: nothing to switch", () => {
    expect(resolveInvoker({ ...base, env: sudo, uid: 1001, euid: 1001 }).switchUid).toBe(false);
  });

  it.each([
    ["no sudo variables", {}, 0, /not started through sudo/],
    ["SUDO_GID missing", { SUDO_USER: "dev", SUDO_UID: "1001" }, 0, /not started through sudo/],
    ["a malformed uid", { ...sudo, SUDO_UID: "1001 " }, 0, /malformed/],
    ["a user name with a colon", { ...sudo, SUDO_USER: "dev:x" }, 0, /malformed/],
    ["root as the invoker", { ...sudo, SUDO_UID: "0" }, 0, /never run as root/],
    ["an unknown user", { ...sudo, SUDO_USER: "eve" }, 0, /not in the user database/],
    ["ids that are not the user's", { ...sudo, SUDO_UID: "1003" }, 0, /not the ids of dev/],
    ["another gid", { ...sudo, SUDO_GID: "0" }, 0, /not the ids of dev/],
    ["a non-root guard that would have to switch", sudo, 999, /cannot start the command as dev/],
  ] as const)("refuses (78): %s", (_name, env, euid, message) => {
    let caught: unknown;
    try {
      resolveInvoker({ ...base, env, uid: euid, euid });
    } catch (e) {
      caught = e;
    }
    expect((caught as { exitCode?: number }).exitCode).toBe(78);
    expect((caught as Error).message).toMatch(message);
  });
});
