/**
 * `npm run demo` (scripts/demo.sh) is the first thing a new user runs: it must tell the 2012 story right
 * when its output goes to a file or a pipe (issue 17 item 13, issue 14 part 3).
 */
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../e2e/world.js";

const run = promisify(execFile);

describe("the demo, its output piped", () => {
  it("runs every step, without colour, quoting what it echoes, showing self-approval and the preview", async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", TERM: "xterm-256color" };
    // One stream, in order, as `npm run demo > demo.txt 2>&1` would write it.
    const { stdout: out } = await run("bash", ["-c", '"$0" 2>&1', join(ROOT, "scripts", "demo.sh")], { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    // No colour into a pipe (guard's own output and the script's narration alike).
    expect(out).not.toMatch(/\x1b\[/);
    // The --reason it echoes is quoted as a shell would need it.
    expect(out).toContain("--reason 'INC-2412: stale ELB state after failed deploy'");
    // The self-approval step is shown, with guard's refusal.
    expect(out).toMatch(/alice\$ guard approve r-[a-z2-7]{20} --yes\nguard: you \(alice\) made request r-[a-z2-7]{20}; a second, distinct person must approve/);
    // The 2012 story with its preview: what the approver sees is what the purge would delete.
    expect(out).toMatch(/preview: .*purge-lb-state\.sh --dry-run --region us-east-1/);
    expect(out).toMatch(/\| would delete 1843 rows of production load-balancer state for region us-east-1/);
    // Runs that needed no key name no principal: the login is shown as a login, never as `(root)`.
    expect(out).not.toMatch(/\(root\)/);
    expect(out).toMatch(/run\.started +- +env=production \.\/maintenance\/report-lb-state\.sh.*\(no key; login /);
    expect(out).toMatch(/── Done:/);
  }, 150_000);
});
