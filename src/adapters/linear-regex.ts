import { policyUsesRegex } from "../core/detect.js";
import { re2Compiler, type RegexCompiler } from "../core/linear-regex.js";
import type { Policy } from "../core/types.js";

let loaded: Promise<RegexCompiler> | undefined;

/** The RE2 engine (re2js), loaded once, on first need: an allowed run with a policy that has no regex never loads it. */
export function loadRegexEngine(): Promise<RegexCompiler> {
  loaded ??= import("re2js").then((m) => re2Compiler(m.RE2JS));
  return loaded;
}

/** The RE2 engine for a policy that has detector regexes; undefined (nothing loaded) for one that has none. */
export async function regexEngineFor(policy: Policy): Promise<RegexCompiler | undefined> {
  return policyUsesRegex(policy) ? loadRegexEngine() : undefined;
}

/**
 * Whether a policy file's bytes may define a detector regex, so that parsing needs the engine to check
 * it. A YAML key spells `regex` literally unless it is a double-quoted scalar with escapes, which need a
 * backslash: text with neither cannot hold the key.
 */
export function mayHoldRegex(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return b.includes("regex") || b.includes("\\");
}
