/**
 * Durations as people write them in policies and flags: whole numbers with a unit, largest unit first,
 * each unit at most once: "90s", "30m", "1h", "7d", "1h30m", "2d12h". Seconds are the only unit of
 * account. Anything else ("1.5h", "90", "30M", "1h 30m", "30m1h", "01h") is refused, never guessed:
 * a TTL read wrongly silently widens an approval window.
 */

const UNITS = [
  ["d", 86_400],
  ["h", 3_600],
  ["m", 60],
  ["s", 1],
] as const;

/** At most this many digits per part: keeps every total far below Number.MAX_SAFE_INTEGER. */
const MAX_DIGITS = 9;

export const DURATION_RE = /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/;

/** Seconds, or null when `s` is not a duration in the grammar above. */
export function parseDuration(s: string): number | null {
  if (s.length === 0) return null;
  const m = DURATION_RE.exec(s);
  if (!m) return null;
  let total = 0;
  for (let i = 0; i < UNITS.length; i++) {
    const part = m[i + 1];
    if (part === undefined) continue;
    if (part.length > MAX_DIGITS) return null;
    total += Number(part) * (UNITS[i] as (typeof UNITS)[number])[1];
  }
  return total;
}

/** "1h30m", "7d", "45s", "0s"; fractions of a second are dropped, negatives get a leading "-". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  let rest = Math.trunc(Math.abs(seconds));
  if (rest === 0) return "0s";
  let out = "";
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return seconds < 0 ? `-${out}` : out;
}
