/**
 * Stored JSON is read from places anyone who can write the store controls (SECURITY H1). JSON.parse
 * copes with any depth, but everything after it that walks the value (canonicalJson, the shape checks,
 * JSON.stringify) recurses, and a record nested 200,000 deep overflows the stack: a crash (70) instead
 * of a located integrity error (65). So the text's nesting is bounded before it is parsed.
 *
 * Nothing guard writes comes near the bound: a request or an audit event nests a handful of levels.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * JSON strings (escapes included, unrolled so that a long plain string is one run of its character
 * class) and runs of anything but brackets and quotes: what the depth count skips.
 */
const NOT_BRACKETS = /"[^"\\]*(?:\\[^][^"\\]*)*"|[^[\]{}"]+/g;
/**
 * Up to this length the regular expression drops them. It keeps a backtracking entry for every escape
 * in a string, and V8 throws ("Maximum call stack size exceeded") from about 6.7 million characters of
 * escapes; a record is at most 1 MiB, and a longer text (only a planted audit line) is walked instead.
 */
const BY_EXPRESSION_MAX = 1 << 20;

/**
 * Whether JSON text opens more than `max` arrays or objects inside one another, brackets inside strings
 * ignored; no recursion, and it does not validate the text (JSON.parse does that next). A text with
 * few opening brackets is answered by counting them (openingsAtMost). Otherwise the regular expression
 * drops every string and everything between brackets in native code, so the loop only sees brackets: a
 * 12 KB request costs ~0.1–0.2 ms on a fresh start, where walking every character took 1.3–4 ms (that
 * loop runs in V8's interpreter until it is hot, which a short-lived guard never lets it become).
 * test/core/json-depth.test.ts holds the ways to each other on any text, and to the parsed depth on any
 * JSON.
 */
export function jsonTooDeep(text: string, max: number = MAX_JSON_DEPTH): boolean {
  if (openingsAtMost(text, max)) return false;
  if (text.length > BY_EXPRESSION_MAX) return tooDeepByCharacters(text, max);
  const brackets = text.replace(NOT_BRACKETS, "");
  let depth = 0;
  for (let i = 0; i < brackets.length; i++) {
    const c = brackets.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    } else {
      return false; // a quote left over opens a string that never closes: everything after it is inside it
    }
  }
  return false;
}

/**
 * Whether the text holds at most `max` opening brackets, inside strings or not: then nothing in it can
 * nest deeper than `max`. Every record and event guard writes has a handful, so this answers almost every
 * read: `indexOf` finds each bracket in native code without making a string, ~20 times quicker than the
 * regular expression for an audit line (0.09 against 1.8 µs, warm; ~6 times cold).
 */
function openingsAtMost(text: string, max: number): boolean {
  let n = 0;
  for (let i = text.indexOf("{"); i !== -1; i = text.indexOf("{", i + 1)) if (++n > max) return false;
  for (let i = text.indexOf("["); i !== -1; i = text.indexOf("[", i + 1)) if (++n > max) return false;
  return true;
}

/** The same answer, one character at a time. */
export function tooDeepByCharacters(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** The problem to report for text that nests too deeply. */
export const TOO_DEEP = `nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep (guard writes nothing like it)`;
