/**
 * A progress line on stderr while a long command works (`guard audit verify` and `guard store prune` over
 * a year of history, `guard requests --all`), at a terminal only: never into a pipe, a file or a CI log.
 * It is first drawn after `delayMs`, so a quick command shows nothing, then redrawn four times a second,
 * fitted to the terminal's width; the answer stops it and erases the line, so what the command prints next
 * starts on a clean line. The line is drawn whenever the event loop is free (the store's reads and the
 * worker threads' answers leave it so). `text` must hold nothing read from a store: counts only.
 */
import { fitToWidth } from "../core/time.js";
import { stderrStream, writeStderr } from "./output.js";

export function showProgress(text: () => string, delayMs = 1000): () => void {
  const err = stderrStream();
  if (err.isTTY !== true) return () => undefined;
  let drawn = false;
  const draw = (): void => {
    writeStderr(`\r\x1b[2K${fitToWidth(text(), (err.columns || 80) - 1)}`);
    drawn = true;
  };
  let repeat: ReturnType<typeof setInterval> | undefined;
  const first = setTimeout(() => {
    draw();
    repeat = setInterval(draw, 250);
  }, delayMs);
  return () => {
    clearTimeout(first);
    clearInterval(repeat);
    if (drawn) writeStderr("\r\x1b[2K");
  };
}

/** A count as the progress lines write it: 12,345. */
export const count = (n: number): string => n.toLocaleString("en-US");
