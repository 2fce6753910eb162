import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, makeWorld, type World } from "./world.js";

const run = promisify(execFile);

/**
 * guard's own output (help, --json, audit log) goes to a reader that may stop reading (`| head`), or to
 * a file that cannot take it. The first is normal and ends quietly; the second is a failure to say so.
 */

let world: World;
beforeAll(async () => {
  world = await makeWorld();
});
afterAll(async () => {
  await world.cleanup();
});

/** `guard ARGS | true`, started once `true` has exited: every write meets a closed pipe (EPIPE). */
async function intoClosedPipe(args: string[]): Promise<{ code: number; stderr: string }> {
  const script = `{ sleep 0.3; "$0" "$@" 2>"$GUARD_ERR"; echo $? > "$GUARD_RC"; } | true`;
  const err = `${world.dir}/pipe.err`;
  const rc = `${world.dir}/pipe.rc`;
  await run("bash", ["-c", script, process.execPath, BIN, ...args], { cwd: world.dir, env: { ...world.env, GUARD_ERR: err, GUARD_RC: rc } });
  const { readFile } = await import("node:fs/promises");
  return { code: Number((await readFile(rc, "utf8")).trim()), stderr: await readFile(err, "utf8") };
}

describe("guard's own output", () => {
  it.each([[["--help"]], [["run", "--help"]], [["policy", "lint", "--json"]]])("into a pipe nobody reads any more (%j): a quiet end, no stack trace", async (args) => {
    const r = await intoClosedPipe(args);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at /);
  });

  it.skipIf(!existsSync("/dev/full"))("into a file that cannot take it (/dev/full): 74, saying so", async () => {
    const script = `"$0" "$@" > /dev/full`;
    const r = await run("bash", ["-c", script, process.execPath, BIN, "--version"], { cwd: world.dir, env: world.env }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(r.code).toBe(74);
    expect(r.stderr).toContain("could not write its output: ENOSPC");
  });
});
