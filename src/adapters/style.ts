/**
 * Terminal colours for guard's own messages: the few SGR styles guard uses, chained as in chalk
 * (`c.red.bold("guard:")`). guard used chalk; loading it (its colour-support probe, its style tables)
 * cost about 0.7 ms of every start, in front of every command, for nine styles. This keeps chalk's
 * behaviour where it matters: a style closed inside the text (a nested style, or bold and dim, which
 * share their close code) is re-opened after it, and styles are closed before each line break and
 * re-opened after it, so that no colour runs into the next line of a terminal.
 *
 * Only guard's own words are styled; text that came from someone else is escaped before it gets here
 * (core/escape.ts), so it carries no escape sequences of its own.
 */

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  cyan: [36, 39],
  white: [37, 39],
  bgRed: [41, 49],
} as const satisfies Record<string, readonly [number, number]>;

export type StyleName = keyof typeof CODES;

/** A style: call it on text; chain another style by name. */
export type Style = ((text: string | number) => string) & { readonly [K in StyleName]: Style };

const NAMES = Object.keys(CODES) as StyleName[];

function style(enabled: boolean, stack: ReadonlyArray<readonly [number, number]>): Style {
  const apply = (input: string | number): string => {
    let text = String(input);
    if (!enabled || stack.length === 0 || text === "") return text;
    let open = "";
    let close = "";
    for (const [on, off] of stack) {
      open += `\u001b[${on}m`;
      close = `\u001b[${off}m${close}`;
    }
    // A style closed inside the text (nested, or sharing the close code) is opened again after it,
    // innermost style first, as chalk does.
    if (text.includes("\u001b")) {
      for (let i = stack.length - 1; i >= 0; i--) {
        const [on, off] = stack[i]!;
        text = text.replaceAll(`\u001b[${off}m`, `\u001b[${off}m\u001b[${on}m`);
      }
    }
    if (text.includes("\n")) text = text.replace(/\r?\n/g, (nl) => `${close}${nl}${open}`);
    return `${open}${text}${close}`;
  };
  for (const name of NAMES) {
    Object.defineProperty(apply, name, { get: () => style(enabled, [...stack, CODES[name]]) });
  }
  return apply as Style;
}

/** Styles that colour (`enabled`) or leave text exactly as it is. */
export function styles(enabled: boolean): Style {
  return style(enabled, []);
}

/**
 * Whether to colour output to a stream: never with NO_COLOR (any value but empty); FORCE_COLOR forces
 * it on, unless it is `0` or `false`; otherwise only on a terminal that is not TERM=dumb.
 */
export function colourWanted(env: Readonly<Record<string, string | undefined>>, isTTY: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force.toLowerCase() !== "false";
  return isTTY && env.TERM !== "dumb";
}
