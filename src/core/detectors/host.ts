/** `- host: "db1.*"`: the host name of the machine guard runs on (a glob, case-insensitive). */
import { compileGlob } from "../glob.js";
import { quoteValue } from "../names.js";
import type { Detector } from "../types.js";
import type { DetectorKind } from "./kind.js";
import { INSENSITIVE } from "./values.js";

declare module "../types.js" {
  interface DetectorShapes {
    /** The host name of the machine guard runs on (glob, case-insensitive). */
    host: { pattern: string };
  }
  interface SimulatedInputs {
    /** The host name of the machine (a policy test case's `host`). */
    host?: string;
  }
}

type HostDetector = Extract<Detector, { type: "host" }>;

export const hostDetector: DetectorKind<HostDetector> = {
  type: "host",
  matcher: "none",
  examples: ["host"],

  read(kit) {
    const pattern = kit.glob("`host`");
    return pattern === null ? null : { type: "host", pattern, at: kit.at };
  },

  schema: ({ z, glob }) => [z.strictObject({ host: glob.describe("Host name of the machine guard runs on, as a glob, e.g. \"db1.*\".") })],

  label: (e) => `host name ${quoteValue(e.value)}`,

  simulation: {
    field: "host",
    key: "host",
    description: "Host name of the machine.",
    apply: (value, input) => ({ ...input, host: value }),
  },

  start(sink) {
    const host = sink.input.host;
    return {
      detect(d, environment) {
        if (host === "" || !compileGlob(d.pattern, INSENSITIVE)(host)) return;
        sink.add({ source: "host", subject: "hostname", value: host, environment, detail: `host name ${quoteValue(host)} matches "${d.pattern}"` });
      },
    };
  },
};
