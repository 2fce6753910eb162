/** Longer detector regexes are refused: a detector names a host or a profile, not a grammar. */
export const MAX_REGEX_LENGTH = 512;

/**
 * Why a detector regex is refused, or null when it is acceptable. It must compile (as `new RegExp(p)`, which
 * is how detectors use it) and must not be obviously catastrophic: a quantified group that itself contains
 * an unbounded quantifier, such as `(a+)+` or `(.*)*`, backtracks exponentially on a near-miss, and the
 * matched values (environment variables, arguments) come from the person being checked.
 */
export function regexProblem(pattern: string): string | null {
  if (pattern.length > MAX_REGEX_LENGTH) return `the regex is longer than ${MAX_REGEX_LENGTH} characters`;
  try {
    new RegExp(pattern);
  } catch (e) {
    return `the regex does not compile: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (hasNestedQuantifier(pattern)) return "the regex nests a repeated group inside a repetition (like `(a+)+`), which can take exponential time";
  return null;
}

function hasNestedQuantifier(p: string): boolean {
  // Each open group records whether something inside it repeats without bound.
  const groups: boolean[] = [];
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    if (c === "\\") {
      i += 2;
      continue;
    }
    if (c === "[") {
      i = skipClass(p, i);
      continue;
    }
    if (c === "(") {
      groups.push(false);
      i++;
      continue;
    }
    if (c === ")") {
      const inner = groups.pop() ?? false;
      const q = unboundedQuantifierAt(p, i + 1);
      if (inner && q) return true;
      // A repeated group (bounded or not) makes its content repeat for the enclosing group too.
      if (groups.length > 0 && (inner || q)) groups[groups.length - 1] = true;
      i++;
      continue;
    }
    if (unboundedQuantifierAt(p, i) && groups.length > 0) groups[groups.length - 1] = true;
    i++;
  }
  return false;
}

/** Whether p[i] starts `*`, `+` or `{n,}` / `{n,m}` with m > 1 (a repetition worth worrying about). */
function unboundedQuantifierAt(p: string, i: number): boolean {
  const c = p[i];
  if (c === "*" || c === "+") return true;
  if (c === "{") {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
    if (!m) return false;
    if (m[2] === undefined) return Number(m[1]) > 1;
    return m[3] === "" || Number(m[3]) > 1;
  }
  return false;
}

function skipClass(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === "^") j++;
  if (p[j] === "]") j++;
  while (j < p.length && p[j] !== "]") j += p[j] === "\\" ? 2 : 1;
  return j + 1;
}
