/**
 * Times for people: local time with its zone, to the second ("2026-11-27 18:40:00 CET"). JSON keeps ISO
 * UTC. The zone is a parameter (undefined: the process's own, from TZ or the system), so this stays pure.
 */
export function localTime(iso: string, timeZone?: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso.replace(/[^\x20-\x7e]/g, "?");
  const parts = formatFor(timeZone).formatToParts(new Date(ms));
  const get = (t: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === t)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}:${get("second")} ${get("timeZoneName")}`;
}

/**
 * One formatter per zone, made on first use: making an Intl.DateTimeFormat costs ~0.3 ms (ICU loads the
 * zone and the locale's patterns), using one a few microseconds, and `guard audit log` formats a time a
 * line. (An unknown zone throws, as before, and nothing is kept.) The default zone (undefined) is the
 * process's, fixed when it starts.
 */
const formats = new Map<string, Intl.DateTimeFormat>();
function formatFor(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? "";
  let f = formats.get(key);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    });
    formats.set(key, f);
  }
  return f;
}

/** Cut a line to `width` columns (one per code point; guard's lines are escaped, so none is a control). */
export function fitToWidth(line: string, width: number): string {
  const chars = [...line];
  if (!(width > 1) || chars.length <= width) return line;
  return `${chars.slice(0, width - 1).join("")}…`;
}
