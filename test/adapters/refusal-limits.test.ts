import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { admitLimited, LIMITS_FILE } from "../../src/adapters/refusal-limits.js";
import { withFileLock } from "../../src/adapters/store/lock.js";

/**
 * The refusal rate limiter's lock is taken by every refusing guard, so when many refuse at once (the
 * racers that lose one approval) they queue for it: its holder must not give up the CPU in the middle, as
 * it would while waiting for the thread pool, and a waiter must not either between its looks at the lock.
 */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-limits-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Whether the lock file was there at any turn of the event loop (setImmediate) while `work` ran. */
async function lockedAtSomeTurn<T>(lock: string, work: () => Promise<T>): Promise<boolean> {
  let seen = false;
  let done = false;
  const sample = (): void => {
    seen ||= existsSync(lock);
    if (!done) setImmediate(sample);
  };
  setImmediate(sample);
  try {
    await work();
  } finally {
    done = true;
  }
  return seen;
}

describe("the refusal rate limit's critical section", () => {
  it("is taken, read, written and released within one turn of the event loop", async () => {
    const lock = join(dir, "refusals.lock");
    expect(await lockedAtSomeTurn(lock, () => admitLimited(dir, "k", 1_000))).toBe(false);
    expect(existsSync(lock)).toBe(false);
    const state = JSON.parse(await readFile(join(dir, LIMITS_FILE), "utf8")) as { entries: Record<string, { count: number }> };
    expect(state.entries.k).toMatchObject({ count: 1 });
    // The same again: the state it wrote is the state it reads.
    await admitLimited(dir, "k", 1_001);
    expect((JSON.parse(await readFile(join(dir, LIMITS_FILE), "utf8")) as typeof state).entries.k).toMatchObject({ count: 2 });
  });

  it("a guard that finds it held by a live process waits, and takes it once it is let go", async () => {
    // Held here for 30 ms (this process, with its token: live, never broken).
    const lock = join(dir, "refusals.lock");
    let released = false;
    const holding = withFileLock(lock, async () => {
      await new Promise((r) => setTimeout(r, 30));
      released = true;
    });
    const admitted = await admitLimited(dir, "k", 1_000);
    await holding;
    expect(released).toBe(true);
    expect(admitted.record).toBe(true);
  });
});
