import { isScalar } from "yaml";
import { formatDuration, parseDuration } from "../duration.js";
import type { Field, Reader } from "./reader.js";
import { parseIsoTimestamp } from "./timestamp.js";
import { describeNode } from "./yaml-read.js";

/** A duration string ("30m", "1h30m") within [min, max] seconds (the bounds are the field's reader's). */
export function readDuration(r: Reader, field: Field, min: number, max: number): number | null {
  const node = field.value;
  const what = `\`${field.key.value}\``;
  if (isScalar(node) && typeof node.value === "number") {
    r.error(node, "wrong-type", `${what} must be a duration with a unit, not ${describeNode(node)}`, "write e.g. `30m`, `1h` or `1h30m`");
    return null;
  }
  const s = r.text(field);
  if (s === null) return null;
  const seconds = parseDuration(s);
  if (seconds === null) {
    r.error(node, "bad-duration", `${what} ${JSON.stringify(s)} is not a duration`, "write whole numbers with units d, h, m, s in that order, e.g. `90s`, `30m`, `1h30m`, `7d`");
    return null;
  }
  if (seconds < min || seconds > max) {
    r.error(node, "out-of-range", `${what} ${s} is outside the allowed range ${formatDuration(min)} to ${formatDuration(max)}`, `pick a duration between ${formatDuration(min)} and ${formatDuration(max)}`);
    return null;
  }
  return seconds;
}

/**
 * An ISO 8601 time with an explicit zone, as epoch ms. The YAML 1.2 core schema has no timestamp type, so
 * quoted and unquoted times both arrive as the same string.
 */
export function readTimestamp(r: Reader, field: Field): number | null {
  const node = field.value;
  const what = `\`${field.key.value}\``;
  const s = r.text(field);
  if (s === null) return null;
  const ms = parseIsoTimestamp(s);
  if (ms === null) {
    r.error(node, "bad-timestamp", `${what} ${JSON.stringify(s)} is not an ISO 8601 time with a zone`, "write e.g. `2026-12-23T00:00:00Z` or `2026-12-23T09:00:00+01:00`");
    return null;
  }
  return ms;
}
