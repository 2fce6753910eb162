/**
 * The genuine history the store-edit properties start from (test/e2e/run-hostile-file.test.ts and
 * run-hostile-postgres.test.ts), made by guard's whole command line in process (guardIn) on the world's
 * store: four requests by alice — one approved by bob and run (consumed), one never approved, one
 * denied by bob, one approved and not yet run.
 */
import { expect } from "vitest";
import { requestIdIn, type World } from "../e2e/world.js";
import { guardIn } from "./in-process.js";

export type HistoryIds = Record<"consumed" | "unapproved" | "denied" | "approved", string>;

export const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";

export async function fourRequests(w: World): Promise<HistoryIds> {
  const ids: HistoryIds = { consumed: "", unapproved: "", denied: "", approved: "" };
  for (const name of Object.keys(ids) as Array<keyof HistoryIds>) {
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", `INC-${name}`, "--", PURGE, `--ticket=${name}`], { as: "alice", env: PROD });
    expect(r.code, r.stderr).toBe(75);
    ids[name] = requestIdIn(r.stderr);
  }
  for (const name of ["consumed", "approved"] as const) expect((await guardIn(w, ["approve", ids[name], "--yes"], { as: "bob" })).code).toBe(0);
  expect((await guardIn(w, ["deny", ids.denied, "--yes", "--reason", "not now"], { as: "bob" })).code).toBe(0);
  const ran = await guardIn(w, ["run", "--request", ids.consumed, "--confirm", "production"], { as: "alice", env: PROD });
  expect(ran.code, ran.stderr).toBe(0);
  expect(ran.stdout).toContain("purged");
  return ids;
}
