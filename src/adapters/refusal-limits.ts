/**
 * The refusal rate limiter's state (core/refusal.ts admitRefusal): one small JSON file per user and
 * host, under the lock the audit append uses (store/lock.ts), so concurrent guards count together.
 *
 * It bounds what a loop calling guard can do to the log. It is local and the user's own: someone who
 * edits or removes it only loses their own limiting, and can write to the store directly anyway — the
 * bound is against floods through guard, not a defence against a store writer.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readRegular } from "./regular-file.js";
import { admitRefusal, pruneLimits, type Admission, type LimitEntry } from "../core/refusal.js";
import { withFileLock } from "./store/lock.js";

/** `$XDG_STATE_HOME/access-guard-limits` (else ~/.local/state/access-guard-limits). */
export function limitsDir(env: NodeJS.ProcessEnv, home: string): string {
  return join(env.XDG_STATE_HOME || join(home, ".local", "state"), "access-guard-limits");
}

export const LIMITS_FILE = "refusals.json";

/**
 * Under the lock in synchronous system calls, as the audit append (store/file.ts): a holder that waited
 * for the thread pool between its read, write and rename would give up the CPU while holding the lock,
 * and when many guards refuse at once (the racers that lose one approval) they queue behind it.
 */
export async function admitLimited(dir: string, key: string, now: number): Promise<Admission> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, LIMITS_FILE);
  return withFileLock(
    join(dir, "refusals.lock"),
    async () => {
      const state = pruneLimits(readState(file), now);
      const admission = admitRefusal(state[key], now);
      state[key] = admission.entry;
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ v: 1, entries: state })}\n`, { mode: 0o600 });
      renameSync(tmp, file);
      return admission;
    },
    { timeoutMs: 2000, what: "the refusal rate limit" },
  );
}

/** The entries of a readable state file; anything else (missing, damaged) starts afresh. */
function readState(file: string): Record<string, LimitEntry> {
  let v: unknown;
  try {
    const read = readRegular(file, { max: 1 << 20 }); // a regular file only: a FIFO there must not hang guard
    if ("fail" in read) return {};
    v = JSON.parse(read.bytes.toString("utf8"));
  } catch {
    return {};
  }
  const entries = (v as { entries?: unknown } | null)?.entries;
  if (typeof entries !== "object" || entries === null || Array.isArray(entries)) return {};
  const out: Record<string, LimitEntry> = {};
  for (const [k, e] of Object.entries(entries as Record<string, unknown>)) {
    const x = e as Partial<LimitEntry> | null;
    if (x && Number.isFinite(x.windowStart) && Number.isSafeInteger(x.count) && Number.isSafeInteger(x.suppressed)) {
      out[k] = { windowStart: x.windowStart!, count: x.count!, suppressed: x.suppressed! };
    }
  }
  return out;
}
