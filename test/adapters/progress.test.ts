/**
 * The progress line of long commands (src/adapters/progress.ts): drawn after its delay at a terminal,
 * redrawn in place and fitted to the width, erased when stopped; never anything without a terminal.
 */
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { count, showProgress } from "../../src/adapters/progress.js";
import { currentTerminal, useTerminal, type OutStream } from "../../src/adapters/output.js";

const before = currentTerminal();
afterEach(() => useTerminal(before));

/** A stderr that is (or is not) a terminal 40 columns wide, and what was written to it. */
function stderrOf(tty: boolean): { stream: OutStream; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as OutStream;
  stream.isTTY = tty;
  stream.columns = 40;
  return { stream, text: () => text };
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("showProgress", () => {
  it("at a terminal: drawn after its delay, redrawn in place, cut to the width, then erased and drawn no more", async () => {
    const err = stderrOf(true);
    useTerminal({ stdout: () => err.stream, stderr: () => err.stream, stdinIsTTY: () => false, env: {} });
    let n = 0;
    const stop = showProgress(() => `guard: checking requests: ${count(++n * 1000)} of ${count(100_000)}`, 50);
    await pause(20);
    expect(err.text()).toBe(""); // not yet: a quick command shows nothing
    await pause(400); // the first drawing at 50 ms, then every 250 ms
    stop();
    const drawn = err.text();
    await pause(300);
    expect(err.text()).toBe(drawn); // nothing once stopped
    const lines = drawn.split("\r\u001b[2K").slice(1);
    expect(lines.length).toBeGreaterThanOrEqual(3); // two drawings and the erase
    expect(lines.at(-1)).toBe("");
    expect(lines[0]).toBe("guard: checking requests: 1,000 of 100…");
    expect(lines[1]).toBe("guard: checking requests: 2,000 of 100…");
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(39);
  });

  it("without a terminal (a pipe, a file, a CI log): nothing, whatever the delay", async () => {
    const err = stderrOf(false);
    useTerminal({ stdout: () => err.stream, stderr: () => err.stream, stdinIsTTY: () => false, env: {} });
    const stop = showProgress(() => "guard: working", 0);
    await pause(300);
    stop();
    expect(err.text()).toBe("");
  });

  it("stopped before its delay: nothing drawn, nothing erased", async () => {
    const err = stderrOf(true);
    useTerminal({ stdout: () => err.stream, stderr: () => err.stream, stdinIsTTY: () => false, env: {} });
    const stop = showProgress(() => "guard: working", 100);
    await pause(10);
    stop();
    await pause(150);
    expect(err.text()).toBe("");
  });
});
