import picomatch from "picomatch";

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
 * leading `!` and `$` are NOT special: picomatch would read `(a|b)` as a regex group, `{a,b}` as a
 * brace expansion and a leading `!` as a negation, which turns a `deny` into its opposite. We therefore
 * tokenize the pattern ourselves and hand picomatch only escaped literals, `*`, `**`, `?` and classes.
 *
 * Slash-sensitive globs (program paths relative to the policy root) are compiled by picomatch, whose path
 * semantics are what we want there: `*` stops at '/', `**` spans segments, `*` never matches a `.`/`..`
 * segment (paths are realpaths, so those never occur). Options, and why:
 *   dot: true            `*` matches dot files: `scripts/*` must cover `scripts/.purge.sh`
 *   nobrace/noextglob/nonegate   belt and braces on top of the escaping above
 *   posix: true          `[!a]` negates (without it picomatch emits a regex class containing '!')
 *   literalBrackets: false   `[ab]` is a class, never also the literal text "[ab]"
 *   strictSlashes: true  "a/*" does not match "a/b/" (no optional trailing slash)
 *   windows: false       '\' is an escape, never a path separator, on every platform
 *   flags "s"            `**` also spans newlines (a file name may contain one)
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
  const re = opts.slashSensitive ? viaPicomatch(pattern, opts.caseInsensitive) : direct(pattern, opts.caseInsensitive);
  const matcher = (s: string): boolean => re.test(s);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, matcher);
  return matcher;
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

const ASCII_PUNCT = /[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/;
const REGEX_CLASS_SPECIAL = /[\\\]^[-]/;

function escapeForPicomatch(c: string): string {
  return c !== "/" && ASCII_PUNCT.test(c) ? `\\${c}` : c;
}

function classBody(items: Array<{ from: string; to: string }>): string {
  const esc = (c: string): string => (REGEX_CLASS_SPECIAL.test(c) ? `\\${c}` : c);
  return items.map(({ from, to }) => (from === to ? esc(from) : `${esc(from)}-${esc(to)}`)).join("");
}

function viaPicomatch(pattern: string, caseInsensitive: boolean): RegExp {
  const source = tokenize(pattern)
    .map((t) => {
      switch (t.t) {
        case "lit":
          return escapeForPicomatch(t.c);
        case "star":
          return "*";
        case "globstar":
          return "**";
        case "one":
          return "?";
        case "class":
          return `[${t.negated ? "^" : ""}${classBody(t.items)}]`;
      }
    })
    .join("");
  return picomatch.makeRe(source, {
    dot: true,
    nobrace: true,
    noextglob: true,
    nonegate: true,
    posix: true,
    literalBrackets: false,
    strictSlashes: true,
    windows: false,
    flags: caseInsensitive ? "si" : "s",
  });
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
