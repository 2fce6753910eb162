/**
 * Requests bind the digest of what decides, not the policy's bytes (issue 17 item 5), end to end: a
 * description edit or a file split keeps a pending request approvable and runnable; a rule change voids it,
 * and `guard requests` lists it as `void`.
 *
 * What runs where: the run of the request approved across a description edit and a file split goes through
 * the built CLI. Every other call runs guard's whole command line in process (test/helpers/in-process.ts
 * guardIn), in the world's directory (policy file names are shown relative to it, as a spawned guard's
 * are): it saves a Node start per call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, standardPolicy, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };

async function setPolicy(files: Record<string, string>): Promise<void> {
  await rm(join(w.dir, "policies"), { recursive: true, force: true });
  await mkdir(join(w.dir, "policies"), { mode: 0o755 });
  for (const [name, text] of Object.entries(files)) await writeFile(join(w.dir, "policies", name), text, { mode: 0o644 });
}

async function requested(ticket: string): Promise<string> {
  const r = await guardIn(w, ["run", "--confirm", "production", "--reason", `${ticket} stale state`, "--", "./maintenance/purge-lb-state.sh", `--ticket=${ticket}`], { env: PROD, as: "alice" });
  expect(r.code, r.stderr).toBe(75);
  return requestIdIn(r.stderr);
}

const status = async (id: string): Promise<string> => {
  const listed = JSON.parse((await guardIn(w, ["requests", "--json"], { as: "alice" })).stdout) as { requests: { id: string; status: string }[] };
  return listed.requests.find((r) => r.id === id)?.status ?? "(not listed)";
};

describe("a policy edit voids open requests only when it changes what decides", () => {
  it("a description, a comment and a file split keep a pending request approvable and runnable", async () => {
    await setPolicy({ "guard.yaml": standardPolicy(w.people) });
    const id = await requested("INC-1");
    const edited = standardPolicy(w.people)
      .replace("  - name: purge-needs-an-sre\n", "  - name: purge-needs-an-sre\n    description: The 2012 incident; a second SRE looks first.\n")
      .replace("    protected: true\n", "    description: Live load-balancer state.\n    protected: true\n");
    const at = edited.indexOf("rules:\n");
    await setPolicy({ "environments.yaml": `# who and where\n${edited.slice(0, at)}`, "rules.yaml": `version: 1\n${edited.slice(at)}` });
    expect(await status(id)).toBe("pending");
    const approve = await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
    expect(approve.code, approve.stderr).toBe(0);
    // The built CLI runs the request approved across the edit (the other calls in this file run in process).
    const run = await guard(w, ["run", "--confirm", "production", "--", "./maintenance/purge-lb-state.sh", "--ticket=INC-1"], { env: PROD, as: "alice" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("purged --ticket=INC-1\n");
  });

  it("a rule change voids it: listed as void, approval refused, the run needs a new request", async () => {
    await setPolicy({ "guard.yaml": standardPolicy(w.people) });
    const id = await requested("INC-2");
    await setPolicy({ "guard.yaml": standardPolicy(w.people).replace("ttl: 30m", "ttl: 20m") });
    expect(await status(id)).toBe("void");
    const approve = await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
    expect(approve.code).toBe(77);
    expect(approve.stderr).toMatch(/different policy/);
    const run = await guardIn(w, ["run", "--confirm", "production", "--reason", "again", "--", "./maintenance/purge-lb-state.sh", "--ticket=INC-2"], { env: PROD, as: "alice" });
    expect(run.code, run.stderr).toBe(75);
    expect(requestIdIn(run.stderr)).not.toBe(id);
  });
});

describe("policy tests are not policy (issue 17 item 4)", () => {
  it("a typo in a *.test.yaml blocks neither run nor check nor request; policy test and policy lint fail on it", async () => {
    await setPolicy({ "guard.yaml": standardPolicy(w.people), "guard.test.yaml": "tests:\n  - name: a typo\n    rnu: [x]\n" });
    const report = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: PROD, as: "alice" });
    expect(report.code, report.stderr).toBe(0);
    expect((await guardIn(w, ["check", "--", "./maintenance/report-lb-state.sh"], { env: PROD, as: "alice" })).code).toBe(0);
    expect(await requested("INC-3")).toMatch(/^r-/);
    for (const cmd of [["policy", "test"], ["policy", "lint"]]) {
      const r = await guardIn(w, cmd, { as: "alice" });
      expect(r.code, `${cmd.join(" ")}: ${r.stderr}`).toBe(78);
      expect(r.stderr).toMatch(/guard\.test\.yaml:3:5/);
    }
  });
});
