import { readSync } from "node:fs";

/**
 * The bytes of the file open at `fd` from `from` up to `end` (or the end of the file, whichever comes
 * first), in blocks of whole lines: each block ends with a newline and is valid only until the next one
 * is asked for. A line longer than the buffer grows it (doubling from `initial`). What is left without a
 * newline at the end comes last, as a block of its own; the caller decides what such a tail means (a
 * torn write, a file cut while it was read). Synchronous reads: the callers read on the run's path or in
 * a prune that holds no lock, where a trip through libuv's thread pool per read would only cost time.
 */
export function* lineBlocks(fd: number, from: number, end: number, initial: number): Generator<Buffer> {
  let buf = Buffer.allocUnsafe(initial);
  let filled = 0;
  for (let pos = from; pos < end; ) {
    if (filled === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2); // one line longer than the buffer
      buf.copy(bigger, 0, 0, filled);
      buf = bigger;
    }
    const n = readSync(fd, buf, filled, Math.min(buf.length - filled, end - pos), pos);
    if (n === 0) break; // the file ends before `end`
    pos += n;
    filled += n;
    const last = buf.lastIndexOf(10, filled - 1);
    if (last === -1) continue;
    yield buf.subarray(0, last + 1);
    buf.copy(buf, 0, last + 1, filled);
    filled -= last + 1;
  }
  if (filled > 0) yield buf.subarray(0, filled);
}
