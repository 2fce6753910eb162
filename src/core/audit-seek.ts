/**
 * The file store's sparse seek index for `guard audit log --since` (issue 18): where in
 * audit/events.jsonl reading may start so that no event at or after a time is missed. Pure: the store
 * reads and writes the file (adapters/store/file.ts); this module parses it and chooses.
 *
 *   guard-audit-seek 1 <inode> <sha256 of the log's first line>
 *   <seq> <byte offset> <max>
 *   …
 *
 * Each entry says: the line that begins at <byte offset> is event <seq>, and every event before that
 * offset has a time (Date.parse) below <max> or equal to it. <max> is epoch ms, or `inf` when an earlier
 * event's time is not a date (the exact filter keeps such events, so no start after them may be chosen).
 * The header names the log the entries were computed for: a log rewritten since (`guard store prune`) has
 * another inode or first line, and its index is ignored.
 *
 * The index is a hint that anyone who can write the store can write; the store checks that the line at
 * the chosen offset is the event the entry names, and reads from the start when it is not. A forged
 * <max> can hide events from `audit log --since` (never from `audit log` without it, nor from `audit
 * verify`), like any other edit of the store's files; README "Audit log" says so.
 */

export const SEEK_MAGIC = "guard-audit-seek 1";

export interface SeekEntry {
  seq: number;
  offset: number;
  /** Max Date.parse(time) of every event before `offset`; Infinity when one was not a date. */
  maxBefore: number;
}

export interface SeekIndex {
  ino: string;
  firstLine: string;
  entries: SeekEntry[];
}

const HEADER_RE = /^guard-audit-seek 1 (\d{1,20}) ([0-9a-f]{64})$/;
const ENTRY_RE = /^(\d{1,16}) (\d{1,16}) (-?\d{1,16}|inf)$/;

export function seekHeader(ino: string, firstLine: string): string {
  return `${SEEK_MAGIC} ${ino} ${firstLine}\n`;
}

export function seekEntryLine(e: SeekEntry): string {
  return `${e.seq} ${e.offset} ${Number.isFinite(e.maxBefore) ? String(Math.ceil(e.maxBefore)) : "inf"}\n`;
}

/**
 * The index as its text says, or null when anything is off: no header, a line that is not an entry, a
 * last line without its newline (a torn write), offsets or seqs not strictly increasing, or a max that
 * decreases (it is a running maximum). Null means: do not use it.
 */
export function parseSeekIndex(text: string): SeekIndex | null {
  if (!text.endsWith("\n")) return null;
  const lines = text.slice(0, -1).split("\n");
  const h = HEADER_RE.exec(lines[0] ?? "");
  if (!h) return null;
  const entries: SeekEntry[] = [];
  for (const line of lines.slice(1)) {
    const m = ENTRY_RE.exec(line);
    if (!m) return null;
    const e: SeekEntry = { seq: Number(m[1]), offset: Number(m[2]), maxBefore: m[3] === "inf" ? Infinity : Number(m[3]) };
    const prev = entries[entries.length - 1];
    if (e.offset <= 0 || e.seq < 1) return null;
    if (prev && (e.offset <= prev.offset || e.seq <= prev.seq || e.maxBefore < prev.maxBefore)) return null;
    entries.push(e);
  }
  return { ino: h[1]!, firstLine: h[2]!, entries };
}

/**
 * Where to start reading for the events at or after `sinceMs`: the LAST entry all of whose earlier
 * events are strictly older (maxBefore < sinceMs), or null for the start of the log. The last such
 * entry, not the first: a clock that went backwards leaves later entries whose max is still too high,
 * and those are skipped, never an event.
 */
export function chooseSeekEntry(entries: readonly SeekEntry[], sinceMs: number): SeekEntry | null {
  if (Number.isNaN(sinceMs)) return null;
  let chosen: SeekEntry | null = null;
  for (const e of entries) if (e.maxBefore < sinceMs) chosen = e;
  return chosen;
}

/** An event's time as the running maximum counts it: a time that is not a date counts as +∞. */
export function seekTime(time: unknown): number {
  const t = typeof time === "string" ? Date.parse(time) : NaN;
  return Number.isNaN(t) ? Infinity : t;
}
