/** `- argument: "*host=prod-db*"`: any single argument of the command matching a glob (case-insensitive). */
import { compileGlob } from "../glob.js";
import type { Detector } from "../types.js";
import type { DetectorKind } from "./kind.js";
import { INSENSITIVE, redactValue } from "./values.js";
import { quoteValue } from "../names.js";

declare module "../types.js" {
  interface DetectorShapes {
    /** Any single argument of the command matching a glob (case-insensitive), e.g. "*host=prod-db*". */
    argument: { pattern: string };
  }
}

type ArgumentDetector = Extract<Detector, { type: "argument" }>;

export const argumentDetector: DetectorKind<ArgumentDetector> = {
  type: "argument",
  matcher: "none",
  examples: [],

  read(kit) {
    const pattern = kit.glob("`argument`");
    return pattern === null ? null : { type: "argument", pattern, at: kit.at };
  },

  schema: ({ z, glob }) => [z.strictObject({ argument: glob.describe("Any single argument of the command matching this glob, e.g. \"*host=prod-db*\".") })],

  label: (e) => `${e.subject} ${quoteValue(e.value)}`,

  spelling: (d) => ({ matcher: { kind: "glob", pattern: d.pattern }, subject: "argument" }),

  start(sink) {
    return {
      detect(d, environment) {
        sink.input.args.forEach((a, i) => {
          if (!compileGlob(d.pattern, INSENSITIVE)(a)) return;
          sink.add({
            source: "argument",
            subject: `argument ${i + 1}`,
            value: redactValue(null, a),
            environment,
            detail: `argument ${i + 1} matches "${d.pattern}"`,
          });
        });
      },
    };
  },
};
