/**
 * X5: "127 / 126, resolved before consumption, so nothing consumed" — including for a script whose `#!`
 * interpreter cannot run. The script itself exists and is executable, so only the interpreter check can
 * find this out: at request time (nobody is asked to approve a run that cannot start) and again right
 * before the approval would be consumed (the interpreter may vanish in between).
 *
 * The request-time refusals, requests, approvals and status checks run guard's command line in the test
 * process (guardIn, through ./in-process-harness), without a Node process each. The run after the
 * interpreter broke goes through the built CLI: a real guard process exits 127 / 126 and consumes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, copyFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeWorld, requestIdIn, type World } from "../e2e/world.js";
import { PROD, guardRun, runsOf } from "../fault/harness.js";
import { guardRunIn, statusOfIn } from "./in-process-harness.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w?.cleanup());

async function script(name: string, shebang: string): Promise<string> {
  const rel = `./maintenance/${name}`;
  await writeFile(join(w.dir, rel), `${shebang}\necho "$*" >> "${join(w.dir, "ran.log")}"\n`, { mode: 0o755 });
  return rel;
}

describe("X5: a #! interpreter that cannot run", () => {
  it.each([
    { what: "missing", shebang: "#!/nonexistent/interpreter", code: 127 },
    { what: "named through env but not on PATH", shebang: "#!/usr/bin/env no-such-interpreter-xyz", code: 127 },
  ])("is refused at request time when it is $what ($code): no request, nothing ran", async ({ shebang, code }) => {
    const rel = await script(`purge-${code}-${shebang.length}.sh`, shebang);
    const r = await guardRunIn(w, ["run", "--confirm", "production", "--reason", "x5", "--", rel, "--ticket=x5-early"], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(/#! line/);
    expect(await runsOf(w, "--ticket=x5-early")).toBe(0);
  });

  it.each([
    { what: "removed", code: 127, breakIt: (p: string) => rm(p) },
    { what: "made non-executable", code: 126, breakIt: (p: string) => chmod(p, 0o644) },
  ])("$what after approval → $code, and the approval is NOT consumed", async ({ code, breakIt }) => {
    const interp = join(w.dir, `interp-${code}`);
    await copyFile("/bin/sh", interp);
    await chmod(interp, 0o755);
    const rel = await script(`purge-late-${code}.sh`, `#!${interp}`);
    const asked = await guardRunIn(w, ["run", "--confirm", "production", "--reason", "x5", "--", rel, "--ticket=x5-late"], { as: "alice", env: PROD });
    expect(asked.code, asked.stderr).toBe(75);
    const id = requestIdIn(asked.stderr);
    expect((await guardRunIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    await breakIt(interp);
    // Through the built CLI: a real guard process exits 127 / 126 before consuming.
    const r = await guardRun(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(code);
    expect(await runsOf(w, "--ticket=x5-late")).toBe(0);
    expect(await statusOfIn(w, id)).toBe("approved");
  });
});
