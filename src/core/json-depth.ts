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
 * Whether JSON text opens more than `max` arrays or objects inside one another. One pass over the
 * characters, brackets inside strings ignored, no recursion; it does not validate the text (JSON.parse
 * does that next).
 */
export function jsonTooDeep(text: string, max: number = MAX_JSON_DEPTH): boolean {
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
