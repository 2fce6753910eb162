/**
 * The `command` credentials provider end to end (issue 15), with real shell scripts as the mint and
 * revoke commands: minted only after approval, visible only to the child, revoked with exactly what was
 * minted; a failing or malformed mint refuses without spending the approval; a failing revoke is a
 * warning and an audit event.
 *
 * What runs where: the approved run that mints, hands the token to the child and revokes it goes through the
 * built CLI. Every other call (requests, approvals, refused and later runs, the allowed run, audit log) runs
 * guard's whole command line in process (test/helpers/in-process.ts guardIn), with the same environment and
 * real mint/revoke scripts: it saves a Node start per call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, standardPolicy, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let w: World;
const at = (name: string): string => join(w.dir, name);
const read = (name: string): Promise<string> => readFile(at(name), "utf8");

async function allText(dir: string): Promise<string> {
  let out = "";
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out += await readFile(join(e.parentPath, e.name), "latin1");
  return out;
}

/** Set how the mint and revoke scripts behave next. */
const mode = (mint: string, revoke = "ok"): Promise<void[]> => Promise.all([writeFile(at("mint-mode"), mint), writeFile(at("revoke-mode"), revoke)]);

beforeAll(async () => {
  w = await makeWorld();
  const tools = at("tools");
  await import("node:fs/promises").then((f) => f.mkdir(tools));
  // A fresh token per call, logged with the run it was minted for.
  await writeFile(
    join(tools, "mint.sh"),
    `#!/bin/sh
d=${JSON.stringify(w.dir)}
echo "mint run=$GUARD_RUN_ID request=$GUARD_REQUEST_ID env=$GUARD_ENVIRONMENT" >> "$d/mint.log"
case "$(cat "$d/mint-mode")" in
  fail) echo "vendor API said no" >&2; exit 3 ;;
  garbage) echo "token=abc"; exit 0 ;;
  noenv) echo '{"expires": "2099-01-01T00:00:00Z"}'; exit 0 ;;
  slow) sleep 10 ;;
esac
tok="tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \\n')"
printf '{"env": {"VENDOR_TOKEN": "%s"}, "expires": "2099-01-01T00:00:00Z"}\\n' "$tok"
`,
    { mode: 0o755 },
  );
  await writeFile(
    join(tools, "revoke.sh"),
    `#!/bin/sh
d=${JSON.stringify(w.dir)}
cat > "$d/revoked.json"
[ "$(cat "$d/revoke-mode")" = fail ] && { echo "vendor API down" >&2; exit 5; }
exit 0
`,
    { mode: 0o755 },
  );
  const policy = standardPolicy(w.people).replace(
    "    aliases: [prod, prd, live]\n",
    `    aliases: [prod, prd, live]\n    credentials:\n      command:\n        run: [${JSON.stringify(join(tools, "mint.sh"))}]\n        revoke: [${JSON.stringify(join(tools, "revoke.sh"))}]\n        timeout: 2s\n`,
  );
  await writeFile(join(w.dir, "policies", "guard.yaml"), policy);
  await writeFile(at("maintenance/purge-vendor.sh"), `#!/bin/sh\necho "$VENDOR_TOKEN" > ${JSON.stringify(w.dir)}/child-token\necho "child ran"\n`, { mode: 0o755 });
  await writeFile(at("maintenance/report-vendor.sh"), `#!/bin/sh\necho "$VENDOR_TOKEN" > ${JSON.stringify(w.dir)}/child-token\nexit 4\n`, { mode: 0o755 });
});
afterAll(async () => {
  await w?.cleanup();
});

async function approvedRequest(args: string[], reason: string, env: Record<string, string> = PROD): Promise<string> {
  const asked = await guardIn(w, ["run", "--confirm", "production", "--reason", reason, "--", ...args], { as: "alice", env });
  expect(asked.code, asked.stderr).toBe(75);
  const id = requestIdIn(asked.stderr);
  expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
  return id;
}

describe("credentials: command", () => {
  it("mints only after approval, gives the token to the child alone, and revokes with exactly what was minted", async () => {
    await mode("ok");
    await rm(at("mint.log"), { force: true });
    const args = ["./maintenance/purge-vendor.sh"];
    // The requester's own VENDOR_TOKEN (bound, unchanged) is replaced by the minted one in the child.
    const own = { ...PROD, VENDOR_TOKEN: "requester-own" };
    const id = await approvedRequest(args, "vendor-1", own);
    expect(existsSync(at("mint.log"))).toBe(false);
    // The built CLI itself mints, runs and revokes (the other calls in this file run in process).
    const run = await guard(w, ["run", "--json", "--request", id, "--confirm", "production"], { as: "alice", env: own });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("child ran\n");
    const log = (await read("mint.log")).trim().split("\n");
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(new RegExp(`^mint run=run-[0-9a-f]{32} request=${id} env=production$`));
    const token = (await read("child-token")).trim();
    expect(token).toMatch(/^tok-[0-9a-f]{24}$/);
    const revoked = JSON.parse(await read("revoked.json")) as { env: Record<string, string> };
    expect(revoked.env.VENDOR_TOKEN).toBe(token);

    const audit = await guardIn(w, ["audit", "log", "--json"], { as: "bob" });
    const events = audit.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    expect(events.find((e) => e.type === "credentials.issued" && e.data.requestId === id)?.data).toMatchObject({ provider: "command", variables: ["VENDOR_TOKEN"], expires: "2099-01-01T00:00:00Z" });
    expect(events.find((e) => e.type === "credentials.revoked" && e.data.requestId === id)?.data).toMatchObject({ provider: "command", variables: ["VENDOR_TOKEN"], revokedAt: expect.any(String) });
    for (const text of [run.stdout, run.stderr, audit.stdout, await allText(w.store)]) expect(text).not.toContain(token);
  });

  it.each([
    ["a failing mint command", "fail", "exited with status 3"],
    ["output that is not JSON", "garbage", "not JSON"],
    ["output without env", "noenv", 'no "env" object'],
    ["a mint command that times out", "slow", "timed out after 2s"],
  ])("%s refuses (74), runs nothing and leaves the approval for a later run", async (_what, m, message) => {
    await mode("ok");
    const args = ["./maintenance/purge-vendor.sh", `--case=${m}`];
    const id = await approvedRequest(args, `vendor-${m}`);
    await mode(m);
    await rm(at("child-token"), { force: true });
    const refused = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: PROD });
    expect(refused.code, refused.stderr).toBe(74);
    expect(refused.stderr).toContain(message);
    expect(refused.stderr).toContain("nothing was run");
    expect(existsSync(at("child-token"))).toBe(false);
    await mode("ok");
    const later = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: PROD });
    expect(later.code, later.stderr).toBe(0);
  });

  it("an allowed run gets credentials too; a failing revoke is a warning and an audit event, and the child's status stands", async () => {
    await mode("ok", "fail");
    const run = await guardIn(w, ["run", "--", "./maintenance/report-vendor.sh"], { env: PROD });
    expect(run.code, run.stderr).toBe(4);
    const token = (await read("child-token")).trim();
    expect(token).toMatch(/^tok-/);
    expect(run.stderr).toContain("warning: the revoke command");
    expect(run.stderr).toContain("exited with status 5");
    expect(run.stderr).toContain("VENDOR_TOKEN");
    expect(run.stderr).not.toContain(token);
    const audit = await guardIn(w, ["audit", "log", "--json"], { as: "bob" });
    const failed = audit.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> }).filter((e) => e.type === "credentials.revoke_failed");
    expect(failed.at(-1)?.data).toMatchObject({ provider: "command", variables: ["VENDOR_TOKEN"], reason: "exited with status 5" });
    await mode("ok");
  });
});
