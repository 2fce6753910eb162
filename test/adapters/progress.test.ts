/**
 * The progress line of long commands (src/adapters/progress.ts): drawn after its delay at a terminal,
 * redrawn in place and fitted to the width, erased when stopped; never anything without a terminal.
 */
import { afterEach, describe, expect, it } from "vitest";
import { count, showProgress } from "../../src/adapters/progress.js";
import { currentTerminal, useTerminal } from "../../src/adapters/output.js";
import { captureStream } from "../helpers/runtime.js";

const before = currentTerminal();
afterEach(() => useTerminal(before));

/** guard's terminal from now on: a stderr that is (or is not) a terminal 40 columns wide; what was written to it. */
function terminal(tty: boolean): () => string {
  const err = captureStream();
  err.stream.isTTY = tty;
  err.stream.columns = 40;
  useTerminal({ stdout: () => err.stream, stderr: () => err.stream, stdinIsTTY: () => false, env: {} });
  return err.text;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("showProgress", () => {
  it("at a terminal: drawn after its delay, redrawn in place, cut to the width, then erased and drawn no more", async () => {
    const text = terminal(true);
    let n = 0;
    const stop = showProgress(() => `guard: checking requests: ${count(++n * 1000)} of ${count(100_000)}`, 50);
    await pause(20);
    expect(text()).toBe(""); // not yet: a quick command shows nothing
    await pause(400); // the first drawing at 50 ms, then every 250 ms
    stop();
    const drawn = text();
    await pause(300);
    expect(text()).toBe(drawn); // nothing once stopped
    const lines = drawn.split("\r\u001b[2K").slice(1);
    expect(lines.length).toBeGreaterThanOrEqual(3); // two drawings and the erase
    expect(lines.at(-1)).toBe("");
    expect(lines[0]).toBe("guard: checking requests: 1,000 of 100…");
    expect(lines[1]).toBe("guard: checking requests: 2,000 of 100…");
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(39);
  });

  it.each([
    ["without a terminal (a pipe, a file, a CI log): nothing, whatever the delay", false, 0, 300],
    ["stopped before its delay: nothing drawn, nothing erased", true, 100, 10],
  ])("%s", async (_name, tty, delayMs, stopAfterMs) => {
    const text = terminal(tty);
    const stop = showProgress(() => "guard: working", delayMs);
    await pause(stopAfterMs);
    stop();
    await pause(150);
    expect(text()).toBe("");
  });
});
