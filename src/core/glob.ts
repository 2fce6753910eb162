/**
 * Policy globs. One small, documented language for every place a policy says "glob":
 *
 *   `*`       any run of characters; never crosses '/' when slash-sensitive
 *   `**`      slash-sensitive only: any run of whole path segments ("scripts/**\/x.sh"); elsewhere = `*`
 *   `?`       exactly one character (not '/' when slash-sensitive)
 *   `[a-z]`   a character class; `[!a]` or `[^a]` negates; `]` first is a member; no POSIX `[:alpha:]`
 *   `\x`      the character x, literally
 *
 * Every other character is literal. In particular braces, parentheses, `|`, `+(…)`, `@(…)`, `!(…)`, a
 * leading `!` and `$` are NOT special: a glob library would read `(a|b)` as a regex group, `{a,b}` as a
 * brace expansion and a leading `!` as a negation, which turns a `deny` into its opposite. Patterns are
 * therefore tokenized here and compiled to anchored RegExps directly (no glob library on the start-up
 * path of every run).
 *
 * Slash-sensitive globs (program paths relative to the policy root) follow path semantics: `*`, `?`
 * and classes never match '/', `**` spans whole segments, `*` matches dot files (`scripts/*` covers
 * `scripts/.purge.sh`), "a/*" does not match "a/b/", '\' is always an escape, and `**` spans newlines
 * (a file name may contain one). Paths are realpaths, so `.` and `..` segments never occur.
 *
 * Slash-insensitive globs (variable values such as URLs, arguments, kube contexts, host names) are
 * compiled here to a RegExp directly: picomatch has no mode where `*` crosses '/' without its path rules
 * (its `bash` mode refuses "a/../b" for `*` and stops at newlines), and an argument like
 * `--path=../../etc` must never slip past a deny glob `--path=*`.
 *
 * RegExps never use the `u` flag, so case-insensitive matching folds only what JavaScript's non-Unicode
 * mode folds: the Kelvin sign (U+212A) is not `k` and `ſ` is not `s`.
 */
export interface GlobOptions {
  caseInsensitive: boolean;
  slashSensitive: boolean;
}

type Token =
  | { t: "lit"; c: string }
  | { t: "star" }
  | { t: "globstar" }
  | { t: "one" }
  | { t: "class"; negated: boolean; items: Array<{ from: string; to: string }> };

const cache = new Map<string, (s: string) => boolean>();
/** Policies are bounded, but a long-lived process (tests, a future daemon) must not grow without end. */
const CACHE_LIMIT = 20_000;

/** Compile a policy glob into a matcher. Throws SyntaxError for an empty pattern or a reversed range. */
export function compileGlob(pattern: string, opts: GlobOptions): (s: string) => boolean {
  const key = `${opts.caseInsensitive ? "i" : "c"}${opts.slashSensitive ? "s" : "x"}\0${pattern}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const re = opts.slashSensitive ? pathRegExp(pattern, opts.caseInsensitive) : direct(pattern, opts.caseInsensitive);
  const matcher = (s: string): boolean => re.test(s);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, matcher);
  return matcher;
}

/**
 * Why a policy glob cannot be compiled (a reversed range such as `[e-a]`), or null. Policy reading calls
 * this for every glob so that a bad one is a located configuration error (78) at lint, never a crash
 * of every later run.
 */
export function globProblem(pattern: string): string | null {
  try {
    pathRegExp(pattern, false);
    direct(pattern, false);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message.replace(/ in ".*"$/s, "") : String(e);
  }
}

/** Whether a glob has any wildcard at all (a literal glob names exactly one thing). */
export function isLiteralGlob(pattern: string): boolean {
  return tokenize(pattern).every((t) => t.t === "lit");
}

function tokenize(pattern: string): Token[] {
  if (pattern.length === 0) throw new SyntaxError("empty glob pattern");
  const out: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === "\\") {
      // A trailing lone backslash is itself literal.
      out.push({ t: "lit", c: pattern[i + 1] ?? "\\" });
      i += 2;
    } else if (c === "*") {
      let j = i;
      while (pattern[j] === "*") j++;
      out.push(j - i >= 2 ? { t: "globstar" } : { t: "star" });
      i = j;
    } else if (c === "?") {
      out.push({ t: "one" });
      i++;
    } else if (c === "[") {
      const cls = readClass(pattern, i);
      if (cls) {
        out.push(cls.token);
        i = cls.end;
      } else {
        out.push({ t: "lit", c: "[" });
        i++;
      }
    } else {
      out.push({ t: "lit", c });
      i++;
    }
  }
  return out;
}

/** Read `[...]` starting at `start`; null when it is not closed (then '[' is a literal, as in sh). */
function readClass(p: string, start: number): { token: Token; end: number } | null {
  let i = start + 1;
  let negated = false;
  if (p[i] === "!" || p[i] === "^") {
    negated = true;
    i++;
  }
  const chars: string[] = [];
  let first = true;
  for (;;) {
    const c = p[i];
    if (c === undefined) return null;
    if (c === "]" && !first) break;
    if (c === "\\" && p[i + 1] !== undefined) {
      chars.push(`\\${p[i + 1]}`);
      i += 2;
    } else {
      chars.push(c);
      i++;
    }
    first = false;
  }
  const items: Array<{ from: string; to: string }> = [];
  const lit = (s: string): string => (s.length === 2 && s[0] === "\\" ? (s[1] as string) : s);
  for (let k = 0; k < chars.length; k++) {
    const a = chars[k] as string;
    const dash = chars[k + 1];
    const b = chars[k + 2];
    if (dash === "-" && b !== undefined) {
      const from = lit(a);
      const to = lit(b);
      if (from > to) throw new SyntaxError(`glob character range out of order: [${from}-${to}] in "${p}"`);
      items.push({ from, to });
      k += 2;
    } else {
      items.push({ from: lit(a), to: lit(a) });
    }
  }
  return { token: { t: "class", negated, items }, end: i + 1 };
}

const REGEX_CLASS_SPECIAL = /[\\\]^[-]/;

function classBody(items: Array<{ from: string; to: string }>): string {
  const esc = (c: string): string => (REGEX_CLASS_SPECIAL.test(c) ? `\\${c}` : c);
  return items.map(({ from, to }) => (from === to ? esc(from) : `${esc(from)}-${esc(to)}`)).join("");
}

/**
 * Path semantics (what sh and picomatch do for paths): `*`, `?` and classes never match '/'; `**` as a
 * whole segment spans any number of segments (`a/**\/b` matches `a/b` and `a/x/y/b`; a trailing
 * `/**` matches everything below; `**` alone matches everything); `**` inside a segment is `*`.
 * Compiled here rather than by a glob library: this is the start-up path of every run.
 */
function pathRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  const tokens = tokenize(pattern);
  const isSlash = (t: Token | undefined): boolean => t !== undefined && t.t === "lit" && t.c === "/";
  let source = "";
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    switch (t.t) {
      case "lit":
        source += t.c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
        break;
      case "star":
        source += "[^/]*";
        break;
      case "one":
        source += "[^/]";
        break;
      case "class":
        source += `(?!/)[${t.negated ? "^" : ""}${classBody(t.items)}]`;
        break;
      case "globstar": {
        const before = i === 0 || isSlash(tokens[i - 1]);
        const after = i === tokens.length - 1 || isSlash(tokens[i + 1]);
        if (!before || !after) {
          source += "[^/]*";
        } else if (tokens.length === 1) {
          source += "[^]*";
        } else if (i === 0) {
          // `**/rest`: any leading segments, or none.
          source += "(?:[^]*/)?";
          i++; // the '/' is part of the group
        } else if (i === tokens.length - 1) {
          // `dir/**`: everything below dir. The '/' already emitted belongs to the group.
          source = source.slice(0, -2) + "(?:/[^]*)?";
        } else {
          // `a/**/b`: the emitted '/' plus any segments, then the next '/' is consumed here.
          source += "(?:[^]*/)?";
          i++;
        }
        break;
      }
    }
  }
  return new RegExp(`^(?:${source})$`, caseInsensitive ? "si" : "s");
}

function direct(pattern: string, caseInsensitive: boolean): RegExp {
  const source = tokenize(pattern)
    .map((t) => {
      switch (t.t) {
        case "lit":
          return t.c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
        case "star":
        case "globstar":
          return "[^]*";
        case "one":
          return "[^]";
        case "class":
          return `[${t.negated ? "^" : ""}${classBody(t.items)}]`;
      }
    })
    .join("");
  return new RegExp(`^(?:${source})$`, caseInsensitive ? "i" : "");
}
