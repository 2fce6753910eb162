/**
 * One clock decides: a command reads the store's clock once and evaluates freezes, expiry and approvals
 * at that instant. On PostgreSQL the server's clock is the reference, so guard runs here under
 * libfaketime (Debian's libfaketime package, which .ci/run installs) with its local clock two days off, against
 * a real server whose clock is right: the freeze is judged by the server's time, not the laptop's.
 * The file store's clock is the local one (README "Limits"), which the last case shows.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BIN, guard, makeWorld, requestIdIn, standardPolicy, type GuardResult, type World } from "./world.js";
import { createTestDatabase } from "../helpers/pg.js";

/** libfaketime, from Debian's libfaketime package (multiarch directory). */
const LIBFAKETIME = ((): string | null => {
  for (const dir of existsSync("/usr/lib") ? readdirSync("/usr/lib") : []) {
    const lib = join("/usr/lib", dir, "faketime", "libfaketime.so.1");
    if (existsSync(lib)) return lib;
  }
  return null;
})();
const hasFaketime = LIBFAKETIME !== null;
const DAY = 86_400_000;
const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };

/**
 * The variables that move the wall clock (Date.now) of a process by `offset`. The preload is set directly
 * rather than through the `faketime` command, whose per-process FAKETIME_SHARED would differ between the
 * request and its run (guard binds the environment). Monotonic time stays real: timers behave.
 */
const fake = (offset: string): Record<string, string> => ({ LD_PRELOAD: LIBFAKETIME ?? "", FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: "1" });

/** The built CLI with the local clock moved by `offset` (e.g. "+2d"); the store's clock is untouched. */
function guardAt(world: World, offset: string, args: string[], env: Record<string, string> = {}): Promise<GuardResult> {
  return guard(world, args, { env: { ...env, ...fake(offset) } });
}

const iso = (ms: number): string => new Date(ms).toISOString();

// Without faketime the suite fails in CI (it is installed there) rather than passing without the check.
describe.skipIf(!hasFaketime && !process.env.CI)("one clock: the store's (needs libfaketime; skipped outside CI when it is not installed)", () => {
  let w: World;
  let db: { url: string; drop(): Promise<void> };
  const real = Date.now();

  beforeAll(async () => {
    db = await createTestDatabase();
    // Staging is frozen now by the real clock (the server's), for an hour either side; production from
    // tomorrow for three days, which a local clock two days ahead is inside.
    const freezes = `freezes:
  - name: now-by-the-server
    environments: [staging]
    from: ${iso(real - 3_600_000)}
    until: ${iso(real + 3_600_000)}
    reason: "frozen by the real clock"
  - name: later-by-the-server
    environments: [production]
    from: ${iso(real + DAY)}
    until: ${iso(real + 4 * DAY)}
    reason: "frozen from tomorrow"
`;
    w = await makeWorld({ policy: (people) => standardPolicy(people, freezes) });
    w.env.GUARD_STORE = db.url;
  });
  afterAll(async () => {
    await w?.cleanup();
    await db?.drop();
  });

  it("guard's process really runs two days ahead", () => {
    const out = execFileSync(process.execPath, ["-e", "process.stdout.write(String(Date.now()))"], { env: { ...process.env, ...fake("+2d") } }).toString();
    expect(Number(out) - Date.now()).toBeGreaterThan(DAY);
  });

  it("a freeze in force by the server's clock refuses, though the local clock is two days past it", async () => {
    const check = await guardAt(w, "+2d", ["check", "--env", "staging", "--", "maintenance/report-lb-state.sh"]);
    expect(check.code, check.stdout + check.stderr).toBe(77);
    expect(check.stdout).toContain('freeze "now-by-the-server" is in force');
    const run = await guardAt(w, "+2d", ["run", "--env", "staging", "--", "maintenance/report-lb-state.sh"]);
    expect(run.code, run.stderr).toBe(77);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain('freeze "now-by-the-server"');
  });

  it("a freeze that has not begun by the server's clock does not refuse, though the local clock is inside it", async () => {
    const check = await guardAt(w, "+2d", ["check", "--", "maintenance/report-lb-state.sh"], PROD);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).not.toContain("freeze");
    const run = await guardAt(w, "+2d", ["run", "--", "maintenance/report-lb-state.sh", "x"], PROD);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("report x\n");
  });

  it("request, approval and run from laptops two days ahead: every step is decided at the server's time", async () => {
    // One `faketime` session for the three steps: libfaketime names its shared clock in FAKETIME_SHARED,
    // which guard binds like any variable, so the request and its run must share one.
    const steps = [
      'out=$(GUARD_KEY="$DAVE" "$NODE" "$BIN" run --confirm production --reason "one clock" -- maintenance/purge-lb-state.sh --ticket=one-clock 2>&1); echo "request $?"',
      'id=$(printf "%s" "$out" | grep -o "r-[a-z2-7]\\{20\\}" | head -n 1); echo "id $id"',
      'GUARD_KEY="$ALICE" "$NODE" "$BIN" approve "$id" --yes >/dev/null 2>&1; echo "approve $?"',
      'GUARD_KEY="$DAVE" "$NODE" "$BIN" run --request "$id" --confirm production 2>&1; echo "run $?"',
    ].join("\n");
    const session = await new Promise<string>((resolve, reject) => {
      const child = spawn("faketime", ["-f", "+2d", "sh", "-c", steps], {
        cwd: w.dir,
        env: { ...w.env, ...PROD, FAKETIME_DONT_FAKE_MONOTONIC: "1", NODE: process.execPath, BIN, DAVE: w.people.dave!.key, ALICE: w.people.alice!.key },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.on("error", reject);
      child.on("close", () => resolve(out));
    });
    expect(session).toMatch(/^request 75$/m);
    expect(session).toMatch(/^approve 0$/m);
    expect(session).toContain("purged --ticket=one-clock\n");
    expect(session, session).toMatch(/^run 0$/m);
    const id = requestIdIn(session);
    // The records carry the server's time, not the laptops'.
    const shown = await guardAt(w, "+2d", ["show", id, "--json"]);
    const createdAt = Date.parse((JSON.parse(shown.stdout) as { createdAt: string }).createdAt);
    expect(Math.abs(createdAt - Date.now())).toBeLessThan(600_000);
  });
});

describe.skipIf(!hasFaketime && !process.env.CI)("one clock on the file store: the local clock (needs libfaketime)", () => {
  let w: World;
  const real = Date.now();
  beforeAll(async () => {
    w = await makeWorld({
      policy: (people) => standardPolicy(people, `freezes:
  - name: now
    environments: [production]
    from: ${iso(real - 3_600_000)}
    until: ${iso(real + 3_600_000)}
    reason: "frozen by the real clock"
`),
    });
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it("the same freeze is over by a file store's clock two days ahead (the store's clock is the local one)", async () => {
    const moved = await guardAt(w, "+2d", ["check", "--", "maintenance/report-lb-state.sh"], PROD);
    expect(moved.code, moved.stdout + moved.stderr).toBe(0);
    const right = await guardAt(w, "+0d", ["check", "--", "maintenance/report-lb-state.sh"], PROD);
    expect(right.code).toBe(77);
    expect(right.stdout).toContain('freeze "now" is in force');
  });
});
