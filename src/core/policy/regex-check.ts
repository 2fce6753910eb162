import type { RegexCompiler } from "../linear-regex.js";

/** Longer detector regexes are refused: a detector names a host or a profile, not a grammar. */
export const MAX_REGEX_LENGTH = 512;

/**
 * Why a detector regex is refused, or null when it is acceptable. Detector regexes are RE2 (the `re2js`
 * port, core/linear-regex.ts), which matches in time linear in the input whatever the pattern: the
 * matched values (environment variables, arguments) come from the person being checked, and a
 * backtracking engine would let `^(a|a)*$` hang guard. What RE2 does not have (backreferences `\1`,
 * lookaround `(?=…)`, `(?<=…)`) is refused here, at lint, so a policy never holds a regex that cannot run.
 *
 * `compile` is the engine the adapter loaded for policy text that may hold a regex; without it (which
 * the adapter's test for that makes impossible) the regex is refused rather than accepted unchecked.
 */
export function regexProblem(pattern: string, compile: RegexCompiler | undefined): string | null {
  if (pattern.length > MAX_REGEX_LENGTH) return `the regex is longer than ${MAX_REGEX_LENGTH} characters`;
  if (!compile) return "guard did not load its regex engine (RE2) to check this regex";
  const re = compile(pattern);
  if (re instanceof Error) {
    const message = re.message.replace(/^error parsing regexp: /, "");
    return `the regex is not valid RE2 syntax (${message}); detector regexes use the RE2 dialect, which has no backreferences or lookaround`;
  }
  return null;
}
