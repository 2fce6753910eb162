/**
 * What the detector kinds share: comparing a value with a matcher (near misses are ambiguous, never
 * accepted) and redacting what evidence shows. Not a detector kind itself.
 */
import { compileGlob } from "../glob.js";
import type { RegexCompiler } from "../linear-regex.js";
import { asciiLower, quoteValue, skeleton } from "../names.js";
import type { ValueMatcher } from "../types.js";

/** How detector globs compare: case-insensitive, and `*` crosses `/`. */
export const INSENSITIVE = { caseInsensitive: true, slashSensitive: false } as const;

export type ValueMatch = { kind: "match" | "ambiguous" | "invalid"; detail: string } | { kind: "none" };

/** Leading/trailing whitespace, controls and invisible format characters. */
const EDGE_JUNK = /^[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff]+|[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff]+$/g;

export function strip(s: string): string {
  return s.replace(EDGE_JUNK, "");
}

/** Case, width, look-alikes and edges folded away: only ever used to flag a near miss, never to accept. */
function fold(s: string): string {
  return asciiLower(skeleton(strip(s)).normalize("NFKC").toLowerCase());
}

export function nonEmpty(v: string | undefined): boolean {
  return v !== undefined && v !== "";
}

/**
 * Compare a value with a detector's matcher. A value that matches only after trimming or case-folding is
 * ambiguous (SECURITY E1: `AWS_PROFILE=Prod`, `" prod"`, `prod\n`): the tool that reads it may or may not
 * normalise it, so guard neither accepts nor ignores it.
 */
export function matchValue(m: ValueMatcher, raw: string, subject: string, shown: string, regex: RegexCompiler | undefined): ValueMatch {
  const near = (how: string): ValueMatch => ({
    kind: "ambiguous",
    detail: `${subject}=${quoteValue(shown)} ${how}; the program may read it differently: set it exactly or unset it`,
  });
  switch (m.kind) {
    case "equals":
      if (raw === m.value) return { kind: "match", detail: `${subject} equals ${quoteValue(m.value)}` };
      return fold(raw) === fold(m.value) ? near(`is not ${quoteValue(m.value)} but differs from it only in case, width or whitespace`) : { kind: "none" };
    case "glob": {
      const g = compileGlob(m.pattern, INSENSITIVE);
      if (g(raw)) return { kind: "match", detail: `${subject} matches "${m.pattern}"` };
      return g(strip(raw)) ? near(`matches "${m.pattern}" only after removing whitespace or control characters`) : { kind: "none" };
    }
    case "regex": {
      // A policy with regexes is always given the engine; without one the detector cannot decide, so it fails closed.
      const re = regex ? regex(m.pattern) : new Error("no regex engine was loaded for this policy");
      if (re instanceof Error) {
        return { kind: "invalid", detail: `the policy's regex /${m.pattern}/ for ${subject} is invalid (${re.message}); fix the policy` };
      }
      if (re(raw)) return { kind: "match", detail: `${subject} matches /${m.pattern}/` };
      return re(strip(raw)) ? near(`matches /${m.pattern}/ only after removing whitespace or control characters`) : { kind: "none" };
    }
  }
}

/** Names that hold secrets; PROFILE and REGION variables name things, they are not secrets. */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|KEY/i;
const NOT_SECRET_NAME = /PROFILE|REGION/i;
/** `scheme://user:password@` — the password runs to the last '@' before the path. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^\s/]*@/gi;
/** `password=…` in libpq connection strings and query strings, quoted or not. */
const KEYWORD_SECRET = /\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|sslpassword)=)('(?:[^'\\]|\\.)*'|[^\s&;]*)/gi;

/**
 * What evidence shows of a value: a variable whose name says it holds a secret shows only its length;
 * elsewhere URL passwords and `password=` parameters are masked (`postgres://u:***@h/db`).
 */
export function redactValue(name: string | null, value: string): string {
  if (name !== null && SECRET_NAME.test(name) && !NOT_SECRET_NAME.test(name)) return `(set, ${[...value].length} chars)`;
  return value.replace(URL_PASSWORD, "$1***@").replace(KEYWORD_SECRET, "$1***");
}
