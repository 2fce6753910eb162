/**
 * Fails a test file that leaves process-wide state behind for the files after it in its process
 * (vitest.config.ts: isolate: false; what is compared: test/helpers/process-state.ts). vitest runs this
 * file's afterAll after the test file's own hooks.
 */
import { afterAll, beforeAll, vi } from "vitest";
import { processState, stillLeftBehind, type ProcessState } from "../helpers/process-state.js";

let before: ProcessState;
beforeAll(() => {
  before = processState(vi.isFakeTimers());
});
afterAll(async () => {
  const fakeTimers = vi.isFakeTimers();
  // Turned off here too, so that the files after this one do not fail for it.
  if (fakeTimers) vi.useRealTimers();
  const left = await stillLeftBehind(before, fakeTimers);
  if (left.length > 0) {
    throw new Error(
      `this test file left process-wide state behind for the files after it in its process (vitest.config.ts):\n  ${left.join("\n  ")}\n` +
        "Restore what it changes and end what it starts, in a finally or an afterAll.",
    );
  }
});
