/**
 * What guard's standard input is. An approver sees the argv and the script's hash, never bytes piped in:
 * `cat drop.sql | guard run -- psql prod` would run SQL nobody approved (C10, sudo_pair's "complete
 * bypass"). The run command refuses approval-gated runs unless stdin is a terminal, /dev/null or closed.
 *
 * Note: Node reopens a closed fd 0 on /dev/null at start-up, so guard's own stdin reads as "null" when
 * the caller closed it (`guard run ... <&-`); "closed" is seen only for other descriptors.
 */
import { fstatSync } from "node:fs";
import type { Stats } from "node:fs";
import { isatty } from "node:tty";
import { isDevNull } from "./regular-file.js";

/** "other": a directory, a block device or a character device other than a terminal or /dev/null. */
export type StdinKind = "tty" | "null" | "pipe" | "file" | "socket" | "closed" | "other";

export function classifyStdin(fd = 0): StdinKind {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
    // Any other failure is a doubt, and doubt is not one of the kinds the caller accepts.
    return code === "EBADF" ? "closed" : "other";
  }
  if (isatty(fd)) return "tty";
  if (st.isCharacterDevice()) return isDevNull(st) ? "null" : "other";
  if (st.isFIFO()) return "pipe";
  if (st.isFile()) return "file";
  if (st.isSocket()) return "socket";
  return "other";
}
