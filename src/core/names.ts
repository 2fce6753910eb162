import { editDistance } from "./policy/suggest.js";
export { editDistance };
import { codePointLabel, hiddenName, isHidden } from "./chars.js";
import type { Policy } from "./types.js";

/**
 * Environment names as people type them (`--env`, flag values in argv). Names are ASCII `[a-z0-9-]`;
 * ASCII upper case is folded (PRODUCTION, Prod) but nothing else is: a Cyrillic `о`, a fullwidth `ｐ` or a
 * zero-width space is refused with the code points spelled out, never folded into a name (SECURITY E2).
 * Only ASCII case is folded because String.prototype.toLowerCase maps e.g. the Kelvin sign to `k`.
 */

export type NameResult = { ok: true; name: string } | { ok: false; reason: string; suggestion?: string };

const NAME_RE = /^[a-z0-9-]+$/;

/** An environment variable's name: letters, digits and `_`, not starting with a digit. */
export const ENV_VAR_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Lower-case ASCII A–Z only. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Every name and alias (lower-cased) to its canonical environment name. */
export function nameTable(policy: Policy): Map<string, string> {
  const table = new Map<string, string>();
  for (const env of Object.values(policy.environments)) {
    table.set(asciiLower(env.name), env.name);
    for (const alias of env.aliases) if (!table.has(asciiLower(alias))) table.set(asciiLower(alias), env.name);
  }
  return table;
}

export function normaliseEnvName(policy: Policy, raw: string): NameResult {
  const shown = quoteValue(raw);
  if (raw.length === 0) return { ok: false, reason: "the environment name is empty" };
  const bad = [...raw].filter((c) => !/^[A-Za-z0-9-]$/.test(c));
  const table = nameTable(policy);
  if (bad.length > 0) {
    const listed = [...new Set(bad)].map(describeChar).join(", ");
    // Whitespace and controls are dropped too, so that " prod" and "prod\n" also read as `prod`.
    const skel = asciiLower(skeleton(raw).replace(/[\s\x00-\x1f\x7f-\x9f]/g, ""));
    const lookalike = NAME_RE.test(skel) ? table.get(skel) : undefined;
    if (lookalike !== undefined) {
      return {
        ok: false,
        reason: `${shown} looks like \`${skel}\` but contains ${listed}; environment names are ASCII [a-z0-9-]`,
        suggestion: lookalike,
      };
    }
    return { ok: false, reason: `${shown} contains ${listed}; environment names are ASCII [a-z0-9-]` };
  }
  const lowered = asciiLower(raw);
  const canonical = table.get(lowered);
  if (canonical !== undefined) return { ok: true, name: canonical };
  const suggestion = closest(lowered, table);
  const known = [...new Set(table.values())].join(", ");
  return suggestion === undefined
    ? { ok: false, reason: `${shown} is not an environment in the policy (known: ${known})` }
    : {
        ok: false,
        reason: `${shown} is not an environment in the policy; did you mean \`${suggestion}\`? (known: ${known})`,
        suggestion,
      };
}

/** The nearest canonical name by edit distance (≤ 2, or a prefix), for "did you mean". */
function closest(word: string, table: Map<string, string>): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const [spelling, canonical] of table) {
    const d = spelling.startsWith(word) || word.startsWith(spelling) ? 1 : editDistance(word, spelling);
    if (d <= 2 && (best === undefined || d < best.d)) best = { name: canonical, d };
  }
  return best?.name;
}


// ---------------------------------------------------------------------------------------------
// Confusables (UTS #39 in spirit: a small table of the look-alikes that matter for ASCII names)
// ---------------------------------------------------------------------------------------------

/** Look-alike letters: code point → [ASCII skeleton, Unicode name]. */
const CONFUSABLE: Record<number, [string, string]> = {
  0x0430: ["a", "CYRILLIC SMALL LETTER A"],
  0x0435: ["e", "CYRILLIC SMALL LETTER IE"],
  0x043e: ["o", "CYRILLIC SMALL LETTER O"],
  0x0440: ["p", "CYRILLIC SMALL LETTER ER"],
  0x0441: ["c", "CYRILLIC SMALL LETTER ES"],
  0x0443: ["y", "CYRILLIC SMALL LETTER U"],
  0x0445: ["x", "CYRILLIC SMALL LETTER HA"],
  0x0455: ["s", "CYRILLIC SMALL LETTER DZE"],
  0x0456: ["i", "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I"],
  0x0458: ["j", "CYRILLIC SMALL LETTER JE"],
  0x04bb: ["h", "CYRILLIC SMALL LETTER SHHA"],
  0x0501: ["d", "CYRILLIC SMALL LETTER KOMI DE"],
  0x051b: ["q", "CYRILLIC SMALL LETTER QA"],
  0x051d: ["w", "CYRILLIC SMALL LETTER WE"],
  0x0410: ["a", "CYRILLIC CAPITAL LETTER A"],
  0x0412: ["b", "CYRILLIC CAPITAL LETTER VE"],
  0x0415: ["e", "CYRILLIC CAPITAL LETTER IE"],
  0x041a: ["k", "CYRILLIC CAPITAL LETTER KA"],
  0x041c: ["m", "CYRILLIC CAPITAL LETTER EM"],
  0x041d: ["h", "CYRILLIC CAPITAL LETTER EN"],
  0x041e: ["o", "CYRILLIC CAPITAL LETTER O"],
  0x0420: ["p", "CYRILLIC CAPITAL LETTER ER"],
  0x0421: ["c", "CYRILLIC CAPITAL LETTER ES"],
  0x0422: ["t", "CYRILLIC CAPITAL LETTER TE"],
  0x0425: ["x", "CYRILLIC CAPITAL LETTER HA"],
  0x03b1: ["a", "GREEK SMALL LETTER ALPHA"],
  0x03b5: ["e", "GREEK SMALL LETTER EPSILON"],
  0x03b9: ["i", "GREEK SMALL LETTER IOTA"],
  0x03ba: ["k", "GREEK SMALL LETTER KAPPA"],
  0x03bd: ["v", "GREEK SMALL LETTER NU"],
  0x03bf: ["o", "GREEK SMALL LETTER OMICRON"],
  0x03c1: ["p", "GREEK SMALL LETTER RHO"],
  0x03c4: ["t", "GREEK SMALL LETTER TAU"],
  0x03c5: ["u", "GREEK SMALL LETTER UPSILON"],
  0x0391: ["a", "GREEK CAPITAL LETTER ALPHA"],
  0x0392: ["b", "GREEK CAPITAL LETTER BETA"],
  0x0395: ["e", "GREEK CAPITAL LETTER EPSILON"],
  0x0397: ["h", "GREEK CAPITAL LETTER ETA"],
  0x0399: ["i", "GREEK CAPITAL LETTER IOTA"],
  0x039a: ["k", "GREEK CAPITAL LETTER KAPPA"],
  0x039c: ["m", "GREEK CAPITAL LETTER MU"],
  0x039d: ["n", "GREEK CAPITAL LETTER NU"],
  0x039f: ["o", "GREEK CAPITAL LETTER OMICRON"],
  0x03a1: ["p", "GREEK CAPITAL LETTER RHO"],
  0x03a4: ["t", "GREEK CAPITAL LETTER TAU"],
  0x03a7: ["x", "GREEK CAPITAL LETTER CHI"],
  0x0131: ["i", "LATIN SMALL LETTER DOTLESS I"],
  0x017f: ["s", "LATIN SMALL LETTER LONG S"],
  0x212a: ["k", "KELVIN SIGN"],
  0x2010: ["-", "HYPHEN"],
  0x2011: ["-", "NON-BREAKING HYPHEN"],
  0x2012: ["-", "FIGURE DASH"],
  0x2013: ["-", "EN DASH"],
  0x2212: ["-", "MINUS SIGN"],
};

/**
 * The ASCII skeleton of a string: look-alikes mapped to ASCII, fullwidth forms to their ASCII twins,
 * hidden characters (core/chars.ts: controls, invisible, bidi, unusual spaces) dropped. Used only to explain a refusal ("looks like `prod`"), never to accept.
 */
export function skeleton(s: string): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (isHidden(cp)) continue;
    const conf = CONFUSABLE[cp];
    if (conf) out += conf[0];
    else if (cp >= 0xff01 && cp <= 0xff5e) out += String.fromCodePoint(cp - 0xfee0);
    else out += ch;
  }
  return out;
}

/** "U+043E CYRILLIC SMALL LETTER O", "U+FF50 FULLWIDTH LATIN SMALL LETTER P", "U+001B ESCAPE", "U+005F `_`". */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) as number;
  const hex = codePointLabel(cp);
  if (cp === 0x20) return `${hex} SPACE`;
  if (cp > 0x20 && cp < 0x7f) return `${hex} \`${ch}\``;
  const name = CONFUSABLE[cp]?.[1] ?? fullwidthName(cp);
  return name ? `${hex} ${name}` : hiddenName(cp) ?? hex;
}

function fullwidthName(cp: number): string | undefined {
  if (cp < 0xff01 || cp > 0xff5e) return undefined;
  const ascii = String.fromCodePoint(cp - 0xfee0);
  if (/[a-z]/.test(ascii)) return `FULLWIDTH LATIN SMALL LETTER ${ascii.toUpperCase()}`;
  if (/[A-Z]/.test(ascii)) return `FULLWIDTH LATIN CAPITAL LETTER ${ascii}`;
  if (/[0-9]/.test(ascii)) return `FULLWIDTH DIGIT ${ascii}`;
  return `FULLWIDTH FORM OF \`${ascii}\``;
}

/**
 * A value in double quotes for messages, with everything outside printable ASCII escaped
 * (`\n`, `\t`, `\u{43E}`), so a look-alike, an invisible character or a terminal escape is visible.
 */
export function quoteValue(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else out += `\\u{${cp.toString(16).toUpperCase()}}`;
  }
  return `${out}"`;
}
