import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Files that spend tens of seconds waiting (timed trials, a 10 s lock wait, a 10 s kill grace period),
 * started before all others so that their waits overlap the rest of the run instead of trailing it; then
 * the small files that take long (the demo, one test of 5–8 s; the store contract on PostgreSQL, 7–16 s;
 * the `audit log` command table, 5–9 s), which a run without vitest's timings from the last one (a fresh
 * checkout, CI) would start among the last, by size, and wait on alone at the end.
 * The rest keep vitest's own order (longest last time first, else largest first).
 */
const startFirst = [
  "test/e2e/wakeup.test.ts",
  "test/security/hostile.test.ts",
  "test/fault/child.test.ts",
  "test/store/postgres.roles.test.ts",
  "test/ci/demo.test.ts",
  "test/store/postgres.contract.test.ts",
  "test/commands/audit-log.test.ts",
];

class WaitersFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = startFirst.findIndex((p) => f.moduleId.endsWith(p));
      return i === -1 ? startFirst.length : i;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
    sequence: { sequencer: WaitersFirst },
    // Every file, the pure tables and the end-to-end tests alike, runs in one pool of four long-lived
    // processes (forks), one file after another in each. The end-to-end tests spawn the built CLI: it is
    // built once before any test runs (global-setup.ts).
    include: ["test/**/*.test.ts"],
    pool: "forks",
    globalSetup: ["test/global-setup.ts"],
    setupFiles: ["test/setup/process-state.ts"],
    poolOptions: {
      // Four files at a time, whatever the machine. These tests mostly wait rather than compute: on spawned
      // guards, ssh-keygen, PostgreSQL, and timeouts guard must honour (a 10 s lock wait, a 10 s grace
      // period). vitest's default on 2 cores is one file at a time (cores - 1), which leaves the machine
      // idle during every such wait. More would crowd PostgreSQL's 100 connections; the few tests that open
      // dozens at once take turns (withManyConnections, test/helpers/pg.ts).
      //
      // One file after another in each fork (isolate: false) saves each file a process of its own and
      // loading vitest and the modules it shares with the others (~0.25 s of CPU a file). So no file may
      // leave process-wide state behind: each restores what it changes (process.env, fake timers) and
      // ends what it starts (children, servers, connections); test/setup/process-state.ts (setupFiles)
      // fails a file that does not.
      //
      // One project, one pool, for all files: vitest runs two projects' files in one pool one project
      // after the other, each waiting for its slowest file; together, the tables fill the waits of the
      // end-to-end files.
      //
      // No fork is ever retired for being idle (min = max). tinypool 1.1 (vitest 3.2's pool) retires a
      // worker above the minimum on an idle timer, and can start that timer twice for the same worker
      // without clearing the first; both fire, the worker is torn down twice, and the second teardown's
      // "Terminating worker thread" is a rejection nobody handles: it ended vitest with files still
      // running and their workers orphaned (docs/benchmarks.md, ninth session).
      forks: { isolate: false, maxForks: 4, minForks: 4 },
    },
  },
});
