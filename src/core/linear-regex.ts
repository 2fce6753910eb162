import type { RE2JS } from "re2js";

/** A compiled policy regex: whether it matches somewhere in the string (as RegExp#test does). */
export type RegexTest = (s: string) => boolean;

/** Compiles a policy regex, or gives the reason it does not compile. */
export type RegexCompiler = (pattern: string) => RegexTest | Error;

/**
 * Policy regexes run on RE2 (re2js): matching takes time linear in the input, so no pattern a policy may
 * hold can make guard hang on a value the person being checked chose. The engine is a parameter (the
 * adapter loads re2js only for a policy that has regexes: an allowed `guard run` without any never
 * loads it).
 */
export function re2Compiler(engine: typeof RE2JS): RegexCompiler {
  const cache = new Map<string, RegexTest | Error>();
  return (pattern) => {
    let re = cache.get(pattern);
    if (re === undefined) {
      try {
        const compiled = engine.compile(pattern);
        re = (s: string) => compiled.test(s);
      } catch (e) {
        re = e instanceof Error ? e : new Error(String(e));
      }
      cache.set(pattern, re);
    }
    return re;
  };
}
