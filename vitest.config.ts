import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Tests that run in the test process only (tables over the core, the policy parser, SSHSIG, properties,
 * rendering, the store contracts, notification payloads, the docs' own checks, and the commands run in
 * process with an injected runtime, test/commands): no spawned guard and no process-wide state (signals,
 * process.env, fake timers, the working directory, file descriptors or locks counted per process). They
 * share worker threads and their loaded modules (no per-file isolation), which saves about 0.25 s of CPU
 * per file over a fresh process each. A new test file that changes process-wide state, or spends its time
 * waiting (it would hold one of the two threads idle), belongs in the other project.
 */
const inProcess = [
  "test/*.test.ts",
  "test/core/**/*.test.ts",
  "test/policy/**/*.test.ts",
  "test/sshsig/**/*.test.ts",
  "test/property/**/*.test.ts",
  "test/store/{open,file.contract,postgres.contract,audit-parallel}.test.ts",
  "test/notify/{deliver,payload,policy}.test.ts",
  "test/ci/format.test.ts",
  "test/commands/**/*.test.ts",
  "test/adapters/{refusal-limits,run-as,archive}.test.ts",
  "test/store/memory.contract.test.ts",
  "test/docs/{import-cycles,may-vary,readme-reference,security-traceability}.test.ts",
];

/**
 * Files that spend tens of seconds waiting (timed trials, a 10 s lock wait, a 10 s kill grace period),
 * started before all others so that their waits overlap the rest of the run instead of trailing it; then
 * the demo, one long test (8 s alone, 22 s in a busy run) in a small file, which a run without vitest's
 * timings from the last one (a fresh checkout, CI) would start last of all, by size, and wait on alone.
 * The rest keep vitest's own order (longest last time first, else largest first).
 */
const startFirst = ["test/e2e/wakeup.test.ts", "test/security/hostile.test.ts", "test/fault/child.test.ts", "test/store/postgres.roles.test.ts", "test/ci/demo.test.ts"];

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
    // Each project lists its own files (a project that extends this config would add to an include here).
    projects: [
      { extends: true, test: { name: "in-process", include: inProcess, pool: "threads" } },
      // Everything else, each file in its own process: end-to-end tests that spawn the built CLI, stores,
      // PostgreSQL, faults, signals. Only these need the build (global-setup.ts), made once per run.
      { extends: true, test: { name: "processes", include: ["test/**/*.test.ts"], exclude: inProcess, pool: "forks", globalSetup: ["test/global-setup.ts"] } },
    ],
    poolOptions: {
      threads: { isolate: false, maxThreads: 2, minThreads: 1 },
      // Four files at a time, whatever the machine. These tests mostly wait rather than compute: on spawned
      // guards, ssh-keygen, PostgreSQL, and timeouts guard must honour (a 10 s lock wait, a 10 s grace
      // period). vitest's default on 2 cores is one file at a time (cores - 1), which leaves the machine
      // idle during every such wait. More would crowd PostgreSQL's 100 connections; the few tests that open
      // dozens at once take turns (withManyConnections, test/helpers/pg.ts).
      forks: { maxForks: 4, minForks: 1 },
    },
  },
});
