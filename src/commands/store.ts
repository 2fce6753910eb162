/**
 * `guard store migrate`: create or migrate the PostgreSQL schema explicitly.
 * `guard store unlock`: clear the file store's audit lock left by a holder guard cannot take over itself.
 */
import { join } from "node:path";
import type { CommonOptions } from "./options.js";
import { ExitCode, GuardError, ioError, usageError } from "../core/errors.js";
import { printJson, say } from "../adapters/output.js";
import { fileStoreDir } from "../adapters/store/open.js";
import { describeHolder, inspectLock, removeLock, unlockCommand } from "../adapters/store/lock.js";
import { auditOrFail } from "./audit-events.js";
import { Context } from "./context.js";
import { withContext } from "./command.js";
import { anonymousActor } from "./identity.js";

export async function migrateCommand(opts: CommonOptions): Promise<void> {
  const ctx = await Context.create(opts);
  const url = ctx.settings.store;
  if (!/^postgres(ql)?:\/\//.test(url)) throw usageError(`the store ${url} is not PostgreSQL; only PostgreSQL stores have a schema to migrate`);
  const { migratePostgres } = await import("../adapters/store/postgres.js");
  const r = await migratePostgres(url);
  if (opts.json) printJson(r);
  else say(r.from === r.to ? `guard: schema is up to date (version ${r.to})` : `guard: migrated schema from version ${r.from} to ${r.to}`);
}

/**
 * Remove the audit lock of a file store (SECURITY H5). guard takes over a stale lock on its own host by
 * itself (a dead or recycled pid, a reboot); a lock held on another host it never breaks, because it
 * cannot see whether that holder still runs. A person checks, then names the host with --host. A lock
 * held by a live process on this host is refused. What was removed is printed and audited.
 */
export async function unlockStoreCommand(opts: CommonOptions & { host?: string }): Promise<void> {
  await withContext(opts, async (ctx) => {
    const dir = fileStoreDir(ctx.settings.store);
    if (dir === null) throw usageError("a PostgreSQL store has no lock file to clear", "PostgreSQL serialises appends itself; a session that holds a lock ends with its connection");
    await ctx.store({ create: false }); // the same trust checks as every command (owner, mode, symlinks)
    const lockPath = join(dir, "audit", "lock");
    const state = await inspectLock(lockPath);
    if (state.kind === "free") {
      if (opts.json) printJson({ removed: null, lock: lockPath });
      else say(`guard: no lock at ${lockPath}; nothing to clear`);
      return;
    }
    const holder = describeHolder(state);
    if (state.kind === "live") {
      throw new GuardError(ExitCode.IO, `the lock ${lockPath} is held by ${holder}, a process still running on this host; refusing to clear it`, "wait for it to finish, or stop that process (guard then takes the lock over by itself)");
    }
    const host = state.holder?.host;
    if (state.kind === "other-host" && opts.host !== host) {
      throw usageError(
        `the lock ${lockPath} is held by ${holder}; guard cannot see from here whether that process still runs`,
        `check on that host that no guard is running, then: ${unlockCommand(state.holder.host)}`,
      );
    }
    if (opts.host !== undefined && opts.host !== host) throw usageError(`the lock ${lockPath} is not held on host ${JSON.stringify(opts.host)} but by ${holder}`);
    if (!(await removeLock(lockPath, state.raw))) {
      throw ioError(`the lock ${lockPath} changed while it was being cleared (taken or cleared by another process); nothing was removed`, "run `guard store unlock` again");
    }
    const why = state.kind === "stale" ? state.why : "held on another host, cleared by a person who checked it";
    const h = state.holder;
    await auditOrFail(ctx, anonymousActor(ctx), "store.unlocked", {
      lock: lockPath,
      holder: h ? { pid: h.pid, host: h.host, since: h.since, ...(h.start ? { start: h.start } : {}), ...(h.boot ? { boot: h.boot } : {}) } : null,
      ageSeconds: Math.round(state.ageMs / 1000),
      why,
    });
    if (opts.json) printJson({ removed: { lock: lockPath, holder: h, why } });
    else say(`guard: removed the lock ${lockPath} held by ${holder}: ${why}`);
  });
}
