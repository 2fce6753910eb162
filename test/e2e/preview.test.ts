/**
 * Issue 14, previews end to end with the built CLI and real keys: `require.preview` runs a dry run when
 * the request is made, the approver sees its output (escaped), and with `recheck: true` it runs again
 * before the approval is consumed — a different output refuses the run and leaves the approval usable.
 *
 * The first test (request with its preview, show, approve, show --json) goes through the built CLI, as the
 * file's end-to-end proof; the rest run guard's whole command line in process (guardIn,
 * test/helpers/in-process.ts), previews and the wrapped command really spawned, the timeout really waited.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, standardPolicy, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

const PREVIEW = 'preview: { command: ["{program}", "--dry-run", "{args}"], recheck: true, timeout: 2s }';
const SCRIPT = `#!/bin/sh
if [ "$1" = "--dry-run" ]; then
  shift
  case "$*" in
    *--fail*) echo "cannot reach the load balancer" >&2; exit 3 ;;
    *--hang*) sleep 30 ;;
    *--evil*) printf 'would delete\\033[2J\\033[1;1Hnothing\\n' ;;
  esac
  echo "would delete $(cat rows.txt) rows of production load-balancer state"
  exit 0
fi
echo "purged $*"
`;

let w: World;
beforeAll(async () => {
  w = await makeWorld({
    policy: (people) => standardPolicy(people).replace("require: { approvals: 1, from: [sre], reason: true, confirm: true, ttl: 30m }", `require: { approvals: 1, from: [sre], reason: true, confirm: true, ttl: 30m, ${PREVIEW} }`),
  });
  await writeFile(join(w.dir, "maintenance", "purge-lb-state.sh"), SCRIPT, { mode: 0o755 });
  await writeFile(join(w.dir, "rows.txt"), "12\n");
});
afterAll(async () => w.cleanup());

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";
let n = 0;
let ticket = "";
beforeEach(async () => {
  n++;
  ticket = `--ticket=INC-${n}`;
  await writeFile(join(w.dir, "rows.txt"), "12\n");
});

const request = (...extra: string[]) => guardIn(w, ["run", "--confirm", "production", "--reason", `INC-${n}`, "--", PURGE, ticket, ...extra], { env: PROD, as: "alice" });
const runRequest = (id: string) => guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
const status = async (id: string): Promise<string> => JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "bob" })).stdout).status;

describe("previews", () => {
  it("the approver sees the preview in show, approve and --json", async () => {
    const r = await guard(w, ["run", "--confirm", "production", "--reason", `INC-${n}`, "--", PURGE, ticket], { env: PROD, as: "alice" });
    expect(r.code, r.stderr).toBe(75);
    const id = requestIdIn(r.stderr);
    const show = await guard(w, ["show", id], { as: "bob" });
    expect(show.stdout).toContain(`preview:      ${join(w.dir, "maintenance", "purge-lb-state.sh")} --dry-run ${ticket}  (rule purge-needs-an-sre, exit 0, run again before the command and compared)`);
    expect(show.stdout).toContain("| would delete 12 rows of production load-balancer state");
    const approve = await guard(w, ["approve", id, "--yes"], { as: "bob" });
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout + approve.stderr).toContain("| would delete 12 rows of production load-balancer state");
    const json = JSON.parse((await guard(w, ["show", id, "--json"], { as: "bob" })).stdout);
    expect(json.request.previews).toEqual([
      { rule: "purge-needs-an-sre", argv: [join(w.dir, "maintenance", "purge-lb-state.sh"), "--dry-run", ticket], exitCode: 0, output: "would delete 12 rows of production load-balancer state\n", truncated: false },
    ]);
  });

  it("a changed preview refuses before consumption (77, showing the difference); changed back, the approval runs once", async () => {
    const id = requestIdIn((await request()).stderr);
    expect((await guardIn(w, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    await writeFile(join(w.dir, "rows.txt"), "12000000\n");
    const refused = await runRequest(id);
    expect(refused.code, refused.stderr).toBe(77);
    expect(refused.stderr).toContain("the preview of rule purge-needs-an-sre now reads differently from the one that was approved");
    expect(refused.stderr).toContain("approved: would delete 12 rows");
    expect(refused.stderr).toContain("now:      would delete 12000000 rows");
    expect(refused.stdout).toBe("");
    expect(await status(id)).toBe("approved");

    await writeFile(join(w.dir, "rows.txt"), "12\n");
    const ran = await runRequest(id);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe(`purged ${ticket}\n`);
    expect(await status(id)).toBe("consumed");
  });

  it("a failing preview refuses the request promptly; no request is made", async () => {
    const r = await request("--fail");
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain("exited with status 3");
    expect(r.stderr).toContain("cannot reach the load balancer");
    expect(r.stderr).toContain("no request was made");
    expect(r.stderr).not.toMatch(/r-[a-z2-7]{20}/);
  });

  it("a hanging preview is killed at its timeout and refuses the request", async () => {
    const started = Date.now();
    const r = await request("--hang");
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain("did not finish within 2s");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("escape sequences in preview output never reach the approver's terminal", async () => {
    const id = requestIdIn((await request("--evil")).stderr);
    for (const cmd of [["show", id], ["approve", id, "--yes"]]) {
      const out = await guardIn(w, cmd, { as: "bob" });
      expect(out.stdout + out.stderr).not.toContain("\x1b");
      expect(out.stdout + out.stderr).toContain("| would delete\\x1b[2J\\x1b[1;1Hnothing");
    }
  });
});
