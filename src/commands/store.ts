/** `guard store migrate`: create or migrate the PostgreSQL schema explicitly. */
import type { CommonOptions } from "../cli.js";
import { usageError } from "../core/errors.js";
import { printJson, say } from "../adapters/output.js";
import { Context } from "./context.js";

export async function migrateCommand(opts: CommonOptions): Promise<void> {
  const ctx = await Context.create(opts);
  const url = ctx.settings.store;
  if (!/^postgres(ql)?:\/\//.test(url)) throw usageError(`the store ${url} is not PostgreSQL; only PostgreSQL stores have a schema to migrate`);
  const { migratePostgres } = await import("../adapters/store/postgres.js");
  const r = await migratePostgres(url);
  if (opts.json) printJson(r);
  else say(r.from === r.to ? `guard: schema is up to date (version ${r.to})` : `guard: migrated schema from version ${r.from} to ${r.to}`);
}
