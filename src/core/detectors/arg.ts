/**
 * `- arg: --env`: the value of a flag in the command's own arguments (`--env=x`, `--env x`; single-dash
 * short flags too). Without a matcher the value is compared with environment names and aliases; with
 * `equals`, `matches` or `regex`, a match selects this detector's environment.
 */
import { normaliseEnvName, quoteValue } from "../names.js";
import type { Detector, Evidence, ValueMatcher } from "../types.js";
import type { DetectionSink, DetectorKind } from "./kind.js";
import { matchValue, redactValue } from "./values.js";

declare module "../types.js" {
  interface DetectorShapes {
    /**
     * The value of a flag in the command's arguments (`--env=x`, `--env x`; single-dash short flags too).
     * Without a matcher the value is compared with environment names and aliases; with one, a match selects
     * this environment.
     */
    arg: { flag: string; matcher?: ValueMatcher };
  }
}

type ArgDetector = Extract<Detector, { type: "arg" }>;

/** A flag as it appears in argv: `--env`, `-e`. */
export const FLAG_RE = /^--?[A-Za-z0-9][A-Za-z0-9_-]*$/;

export const argDetector: DetectorKind<ArgDetector> = {
  type: "arg",
  matcher: "optional",
  examples: [],
  fromFlag: true,

  read(kit) {
    const flag = kit.string("`arg`");
    if (flag === null) return null;
    return kit.matcher ? { type: "arg", flag, matcher: kit.matcher, at: kit.at } : { type: "arg", flag, at: kit.at };
  },

  schema: ({ z, matchers, typed }) => {
    const flag = typed(z.string().regex(FLAG_RE), "flag")
      .describe("A flag of the command's own arguments, e.g. \"--env\": its value (--env=x or --env x) is compared with environment names and aliases, or with the matcher when one is given.");
    return [
      z.strictObject({ arg: flag }),
      z.strictObject({ arg: flag, equals: matchers.equals }),
      z.strictObject({ arg: flag, matches: matchers.matches }),
      z.strictObject({ arg: flag, regex: matchers.regex }),
    ];
  },

  label: (e) => `${e.subject} in the command's arguments`,

  start(sink) {
    const flags = new Map<string, FlagScan>();
    const flagOf = (flag: string): FlagScan => {
      let scan = flags.get(flag);
      if (!scan) {
        scan = scanFlag(sink.input.args, flag);
        flags.set(flag, scan);
        for (const p of scan.problems) sink.add({ source: "arg", subject: flag, value: "", environment: null, detail: p }, p);
      }
      return scan;
    };
    const namedFlagsDone = new Set<string>();
    /** Flags with a matcher, and the values some detector recognised. */
    const matcherFlags = new Map<string, Set<string>>();
    return {
      detect(d, environment) {
        if (d.matcher !== undefined && !matcherFlags.has(d.flag)) matcherFlags.set(d.flag, new Set());
        detectArg(sink, d, environment, flagOf(d.flag), namedFlagsDone, matcherFlags.get(d.flag));
      },
      unrecognised() {
        for (const [flag, recognised] of matcherFlags) {
          for (const v of flags.get(flag)?.values ?? []) {
            if (!recognised.has(v)) sink.unrecognised({ source: "arg", subject: flag, value: redactValue(null, v) }, `flag ${flag} ${quoteValue(redactValue(null, v))}`);
          }
        }
      },
    };
  },
};

interface FlagScan {
  /** Distinct values, in order of first appearance. */
  values: string[];
  problems: string[];
}

/**
 * `--env=x`, `--env x` (and `-e x`, `-e=x`). Every argument is scanned, `--` included: what follows a
 * `--` still reaches the program, and being conservative costs a refusal at worst.
 */
function scanFlag(args: readonly string[], flag: string): FlagScan {
  const values: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    let value: string | undefined;
    if (a === flag) {
      value = args[i + 1];
      if (value === undefined) {
        problems.push(`flag ${flag} is the last argument and has no value`);
        break;
      }
      i++;
    } else if (a.startsWith(`${flag}=`)) {
      value = a.slice(flag.length + 1);
    } else {
      continue;
    }
    if (value === "") problems.push(`flag ${flag} has an empty value`);
    else if (!values.includes(value)) values.push(value);
  }
  if (values.length > 1) {
    problems.push(`flag ${flag} is given more than once with different values: ${values.map(quoteValue).join(", ")}`);
  }
  return { values, problems };
}

function detectArg(sink: DetectionSink, d: ArgDetector, envName: string, scan: FlagScan, namedFlagsDone: Set<string>, recognised?: Set<string>): void {
  const add = (e: Evidence, problem?: string): void => sink.add(e, problem);
  if (d.matcher === undefined) {
    // The value names the environment itself, whichever environment declared the detector: read it once.
    if (namedFlagsDone.has(d.flag)) return;
    namedFlagsDone.add(d.flag);
    for (const value of scan.values) {
      const r = normaliseEnvName(sink.policy, value);
      const shown = redactValue(null, value);
      if (r.ok) {
        add({ source: "arg", subject: d.flag, value: shown, environment: r.name, detail: `${d.flag} ${quoteValue(value)} names ${r.name}` });
      } else {
        const p = `flag ${d.flag} has value ${quoteValue(value)} which names no environment (${r.reason})`;
        add({ source: "arg", subject: d.flag, value: shown, environment: null, detail: p }, p);
      }
    }
    return;
  }
  for (const value of scan.values) {
    const shown = redactValue(null, value);
    const m = matchValue(d.matcher, value, d.flag, shown, sink.input.regex);
    if (m.kind === "none") continue;
    recognised?.add(value);
    add(
      { source: "arg", subject: d.flag, value: shown, environment: m.kind === "match" ? envName : null, detail: m.detail },
      m.kind === "match" ? undefined : m.detail,
    );
  }
}
