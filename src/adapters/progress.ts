/**
 * A progress line on stderr while a long command works (`guard audit verify` and `guard store prune` over
 * a year of history, `guard requests --all`), at a terminal only: never into a pipe, a file or a CI log.
 * It is first drawn after `delayMs`, so a quick command shows nothing, then redrawn four times a second,
 * fitted to the terminal's width; the answer stops it and erases the line, so what the command prints next
 * starts on a clean line. The line is drawn whenever the event loop is free (the store's reads and the
 * worker threads' answers leave it so). `text` must hold nothing read from a store: counts only.
 * drawLine and eraseLine are the live line itself, which `guard run --wait` also draws as it waits.
 */
import { fitToWidth } from "../core/time.js";
import { stderrStream, writeStderr } from "./output.js";

export function showProgress(text: () => string, delayMs = 1000): () => void {
  if (stderrStream().isTTY !== true) return () => undefined;
  let drawn = false;
  const draw = (): void => {
    drawLine(text());
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
    if (drawn) eraseLine();
  };
}

/**
 * A live line on stderr (a terminal: the caller checks), drawn over the one before it and fitted to the
 * terminal's width, since a wrapped line would leave a new line behind at every redraw.
 */
export function drawLine(text: string): void {
  writeStderr(`\r\x1b[2K${fitToWidth(text, (stderrStream().columns || 80) - 1)}`);
}

/** Erase the live line: what is written next starts on a clean line. */
export function eraseLine(): void {
  writeStderr("\r\x1b[2K");
}

/** A count as the progress lines write it: 12,345. */
export const count = (n: number): string => n.toLocaleString("en-US");
