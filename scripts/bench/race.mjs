// The race: one approved request, N concurrent `guard run --request ID --confirm production`. Exactly one
// may run the job (it appends its pid to a log); every other must be refused as a replay (77); all must
// answer quickly. The request and the approval are made by the real CLI with real keys: dave asks
// (exit 75, the id on stderr), alice approves.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { APPROVER, PROD_DB, REQUESTER } from "./fixtures.mjs";
import { now } from "./harness.mjs";

const ID_RE = /\br-[a-z2-7]{20}\b/;

/**
 * `guard(args, env, opts)` runs the CLI; `base` is the clean environment with the policy and store.
 * Returns { racers, ran, refused, other, lastMs, medianMs, wallMs, id }.
 */
export async function race({ guard, base, keys, world, log, racers }) {
  const asRequester = { ...base, DATABASE_URL: PROD_DB, GUARD_KEY: keys[REQUESTER].priv };
  const asApprover = { ...base, GUARD_KEY: keys[APPROVER].priv };
  const argv = ["./scripts/race.sh", log];

  const asked = await guard(["run", "--confirm", "production", "--reason", "bench: the race", "--", ...argv], asRequester, { cwd: world, expect: 75, label: "guard run (request)" });
  const id = ID_RE.exec(asked.stderr)?.[0];
  if (!id) throw new Error(`race: guard run exited 75 but printed no request id:\n${asked.stderr}`);
  await guard(["approve", id, "--yes"], asApprover, { cwd: world, expect: 0, label: "guard approve" });

  const start = now();
  const results = await Promise.all(
    Array.from({ length: racers }, () => guard(["run", "--request", id, "--confirm", "production"], asRequester, { cwd: world, expect: null, label: "guard run --request" })),
  );
  const wallMs = now() - start;

  const ran = results.filter((r) => r.code === 0).length;
  const refused = results.filter((r) => r.code === 77).length;
  const other = results.filter((r) => r.code !== 0 && r.code !== 77);
  const lines = (await readFile(log, "utf8").catch(() => "")).split("\n").filter(Boolean);
  if (other.length > 0) {
    const r = other[0];
    throw new Error(`race: ${other.length} racer(s) ended with neither 0 nor 77, e.g. exit ${r.code}:\n${r.stderr.trim().split("\n").slice(-8).join("\n")}`);
  }
  const times = results.map((r) => r.ms).sort((a, b) => a - b);
  return { id, racers, ran, refused, jobRuns: lines.length, lastMs: times[times.length - 1], medianMs: times[times.length >> 1], wallMs };
}

/** A log path per race, so that the PostgreSQL race does not count the file store's run. */
export const raceLog = (root, name) => join(root, `race-${name}.log`);
