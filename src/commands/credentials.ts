/**
 * `guard credentials sweep`: drop the per-run PostgreSQL roles a killed guard left behind. A role whose
 * VALID UNTIL has passed can no longer log in, but it still exists and may own what its run created;
 * the sweep reassigns that to the first grant role and drops the role. Roles still valid may belong to
 * a run in progress and are left alone.
 */
import type { CommonOptions } from "./options.js";
import { ExitCode, GuardError, usageError } from "../core/errors.js";
import { normaliseEnvName } from "../core/names.js";
import { printJson, say } from "../adapters/output.js";
import { withContext } from "./command.js";
import { auditBestEffort } from "./audit-events.js";
import { anonymousActor } from "./identity.js";
import type { Runtime } from "../runtime.js";

export interface SweepOptions extends CommonOptions {
  env?: string;
}

export async function sweepCommand(opts: SweepOptions, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
    const { policy } = await ctx.policy();
    let names = Object.values(policy.environments).filter((e) => e.credentials?.type === "postgres").map((e) => e.name);
    if (opts.env !== undefined) {
      const n = normaliseEnvName(policy, opts.env);
      if (!n.ok) throw usageError(`--env ${JSON.stringify(opts.env)} names no environment of the policy`);
      if (!names.includes(n.name)) throw usageError(`environment ${n.name} has no credentials.postgres: there is nothing to sweep`);
      names = [n.name];
    }
    if (names.length === 0) throw usageError("no environment of the policy has credentials.postgres: there is nothing to sweep");
    const { sweepPostgres } = await import("../adapters/credentials.js");
    const results = [];
    for (const name of names) {
      const creds = policy.environments[name]!.credentials;
      if (creds?.type !== "postgres") continue;
      const r = await sweepPostgres(name, creds, ctx.env);
      results.push(r);
      await auditBestEffort(ctx, anonymousActor(ctx), "credentials.swept", { environment: name, server: r.server, dropped: r.dropped, failed: r.failed });
      if (!opts.json) {
        say(`guard: ${name} (${r.server}): dropped ${r.dropped.length} expired per-run role${r.dropped.length === 1 ? "" : "s"}${r.dropped.length ? `: ${r.dropped.join(", ")}` : ""}; ${r.live.length} still valid (left alone)`);
        for (const f of r.failed) say(`guard: could not drop ${f.role}: ${f.reason}`);
      }
    }
    if (opts.json) printJson(results);
    if (results.some((r) => r.failed.length > 0)) throw new GuardError(ExitCode.IO, "some per-run roles could not be dropped", "see the reasons above; they cannot log in (VALID UNTIL has passed)");
  });
}
