/**
 * `guard store migrate`: create or migrate the PostgreSQL schema explicitly.
 * `guard store unlock`: clear the file store's audit lock left by a holder guard cannot take over itself.
 * `guard store prune`: retire finished history into an archive, leaving a chain that still verifies.
 */
import { join, resolve } from "node:path";
import type { CommonOptions } from "./options.js";
import { ExitCode, GuardError, integrityError, ioError, usageError } from "../core/errors.js";
import { formatDuration, parseDuration } from "../core/duration.js";
import { PRUNE_FLOOR_SECONDS } from "../core/prune.js";
import { escapeForTerminal as esc } from "../core/escape.js";
import { showVerifyProgress, verifyStore, VerifyProgress, type StoreVerification } from "./audit.js";
import { printJson, say } from "../adapters/output.js";
import { fileStoreDir } from "../adapters/store/open.js";
import { describeHolder, inspectLock, removeLock, unlockCommand } from "../adapters/store/lock.js";
import { auditBestEffort, auditOrFail } from "./audit-events.js";
import { Context } from "./context.js";
import { withContext } from "./command.js";
import { anonymousActor } from "./identity.js";
import type { Runtime } from "../runtime.js";

export async function migrateCommand(opts: CommonOptions, rt: Runtime): Promise<void> {
  const ctx = await Context.create(rt, opts);
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
export async function unlockStoreCommand(opts: CommonOptions & { host?: string }, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
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

export interface PruneOptions extends CommonOptions {
  olderThan?: string;
  archiveDir?: string;
  dryRun?: boolean;
}

/**
 * Retire the finished history older than --older-than (else the configuration's `retention:`): the
 * requests whose signed expiry is older than the cutoff, with their approvals, consumptions and the
 * events about them, into a compressed archive, and a `store.pruned` checkpoint in the log (core/prune.ts
 * decides what, the store does it atomically). Only a store that verifies is pruned: pruning must never
 * archive tampering out of sight.
 */
export async function pruneStoreCommand(opts: PruneOptions, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
    const spec = opts.olderThan ?? ctx.settings.retention;
    const from = opts.olderThan !== undefined ? "--older-than" : "`retention:`";
    if (spec === null) {
      throw usageError("guard store prune needs an age: --older-than DURATION, or `retention:` in the configuration", "e.g. guard store prune --older-than 90d (see README, Stores: retention)");
    }
    const seconds = parseDuration(spec);
    if (seconds === null) throw usageError(`${from} ${JSON.stringify(spec)} is not a duration`, "write it like 90d, 30d or 2160h");
    if (seconds < PRUNE_FLOOR_SECONDS) {
      throw usageError(
        `${from} ${spec} is shorter than ${formatDuration(PRUNE_FLOOR_SECONDS)}, the longest a request can live; refusing to prune history that young`,
        `use at least --older-than ${formatDuration(PRUNE_FLOOR_SECONDS)} (90d is a common choice)`,
      );
    }
    const store = await ctx.store({ create: false });
    if (!store.prune) {
      throw usageError(`the store ${store.description} cannot be pruned`, "guard store prune works on the file store and on PostgreSQL");
    }
    const cutoffMs = (await store.now()) - seconds * 1000;
    // A store is pruned only once it verifies: on a year of history that check takes a while, shown at a terminal.
    const progress = new VerifyProgress();
    const stopProgress = showVerifyProgress(progress);
    let v: StoreVerification;
    try {
      v = await verifyStore(store, { progress });
    } finally {
      stopProgress();
    }
    if (!v.ok) {
      // Recorded where it can be (the log may be what is damaged): a prune refused is worth knowing about.
      await auditBestEffort(ctx, anonymousActor(ctx), "store.refused", { code: "tampered", exitCode: ExitCode.INTEGRITY, command: "prune", olderThan: spec, problems: v.problems.length });
      throw integrityError(
        `the store ${store.description} does not verify (${v.problems.length} problem${v.problems.length === 1 ? "" : "s"}, the first: ${esc(v.problems[0]!)}); refusing to prune it`,
        "run guard audit verify, deal with what it reports, then prune: pruning must not archive evidence out of sight",
      );
    }
    const out = await store.prune({
      cutoffMs,
      olderThan: spec,
      actor: anonymousActor(ctx),
      archiveDir: opts.archiveDir !== undefined ? resolve(opts.archiveDir) : null,
      dryRun: opts.dryRun === true,
    });
    if (opts.json) {
      printJson(out);
      return;
    }
    const would = out.dryRun ? "would retire" : "retired";
    if (out.through === null) {
      say(`guard: nothing to retire: no finished history older than ${spec} (cutoff ${out.cutoff})${out.leftovers ? `; removed ${out.leftovers} record(s) left over by an interrupted prune` : ""}`);
    } else {
      say(
        `guard: ${would} ${out.events} event${out.events === 1 ? "" : "s"} (through event ${out.through.seq}) and ${out.requests} request${out.requests === 1 ? "" : "s"} ` +
          `with ${out.approvals} approval record${out.approvals === 1 ? "" : "s"} and ${out.consumptions} consumption${out.consumptions === 1 ? "" : "s"}, expired before ${out.cutoff}`,
      );
      if (out.archive) say(`guard: archive ${out.dryRun ? "(not written) " : ""}${esc(out.archive.path)} (${out.archive.bytes} bytes, sha256 ${out.archive.sha256})`);
      if (out.checkpoint) say(`guard: checkpoint: event ${out.checkpoint.seq} (store.pruned). Keep the archive off this host; check it with: guard audit verify --archive ${esc(out.archive!.path)}`);
    }
    if (out.deferred > 0) say(`guard: ${out.deferred} expired request${out.deferred === 1 ? " is" : "s are"} kept for now: later events name ${out.deferred === 1 ? "it" : "them"} (a later prune retires ${out.deferred === 1 ? "it" : "them"})`);
  });
}
