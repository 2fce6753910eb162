import type { Diagnostic } from "../errors.js";
import type { DecisionKind, Policy, SimulatedInputs, SourceLocation } from "../types.js";

/** One policy file as the adapter read it. `path` is only for display; the digest uses its base name. */
export interface PolicyFile {
  path: string;
  bytes: Uint8Array;
}

/** What one `*.test.yaml` case expects. Omitted fields are not checked. */
export interface PolicyTestExpectation {
  decision: DecisionKind;
  /** Canonical environment name the decision must be about. */
  environment?: string;
  /** Exactly these matching rules (order does not matter). */
  rules?: string[];
  /** Each string must occur (case-sensitive) in at least one of the decision's reasons. */
  reasonsContain?: string[];
}

/**
 * One invocation from a `*.test.yaml` file (YAML fields in brackets):
 * `name`, `run` (argv, program first), `env` (environment variables), the detector kinds' simulated inputs
 * (SimulatedInputs: the host name, the kube context), `declared_env` (what `guard run --env` would pass),
 * `now` (ISO 8601 time with a zone), `expect`.
 */
export interface PolicyTestCase extends SimulatedInputs {
  name: string;
  run: string[];
  env: Record<string, string>;
  /** What the identity probes of each environment answer in this case (environment name → answer). */
  identity?: Record<string, string>;
  declaredEnv?: string;
  /** Epoch ms; the case's own `now`, else the file's top-level `now`, else the runner's. */
  now?: number;
  expect: PolicyTestExpectation;
  at: SourceLocation;
}

export interface ParsedPolicy {
  /** Undefined whenever any diagnostic has severity "error". */
  policy?: Policy;
  /** Errors and warnings from every file, sorted by file, line, col and de-duplicated. */
  diagnostics: Diagnostic[];
  tests: PolicyTestCase[];
}
