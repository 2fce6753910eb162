import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Four test files at a time, whatever the machine. Most of the suite waits rather than computes: on
    // spawned guards, ssh-keygen, PostgreSQL, and timeouts guard must honour (a 10 s lock wait, a 10 s
    // grace period). vitest's default on 2 cores is one file at a time (cores - 1), which leaves a core
    // idle during every such wait. More than four would crowd PostgreSQL's 100 connections; the few tests
    // that open dozens at once take turns (withManyConnections, test/helpers/pg.ts).
    maxWorkers: 4,
    minWorkers: 1,
    reporters: ["default"],
  },
});
