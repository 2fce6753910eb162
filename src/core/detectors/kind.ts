/**
 * What a detector kind is: one object, in one module of this directory, that says everything guard knows
 * about it — how its policy field is read and described (JSON Schema), what the adapters must read for it,
 * how it turns the invocation into evidence, how a policy test simulates it and how its evidence is named.
 * The registry (registry.ts) lists the kinds; the rest of guard iterates it and names none of them.
 *
 * A kind's module is pure (src/core) and cheap to import: no work at its top level, and zod only as a type
 * (the schema builders are handed in by schema.ts, which is loaded only for `guard policy schema`).
 */
import type { z } from "zod";
import type { DetectionInput, Detector, Evidence, Policy, SimulatedInputs, SourceLocation, ValueMatcher } from "../types.js";

/** What a kind's reader gets: its own field (`host: "db1.*"`), already told apart from the others. */
export interface ReadKit {
  /** The field's value, checked against the type the kind's schema gives it (length, pattern), or null once the problem is reported. */
  string(what: string): string | null;
  /** The field's value as a valid glob (checked against its schema type first), or null once the problem is reported. */
  glob(what: string): string | null;
  /** Report a problem at the field's value (file:line:col), with a hint. */
  error(code: string, message: string, hint: string): void;
  /** The detector's `equals`/`matches`/`regex`, read and checked; undefined when it has none. */
  matcher: ValueMatcher | undefined;
  at: SourceLocation;
}

/** The zod builders a kind describes its field with (schema.ts hands them in). */
export interface SchemaKit {
  z: typeof z;
  /** A non-empty, case-insensitive glob. */
  glob: z.ZodString;
  matchers: { equals: z.ZodString; matches: z.ZodString; regex: z.ZodString };
  /** An environment variable name. */
  envVar: z.ZodString;
  /** Names a field's type in the README's policy reference ("flag"), where its zod type says too little. */
  typed<T extends z.ZodType>(schema: T, type: string): T;
}

/** Where a kind's session puts what it finds, during one detectTarget. */
export interface DetectionSink {
  readonly policy: Policy;
  readonly input: DetectionInput;
  /** Record evidence (said once however often it is added); a problem makes the run refused. */
  add(e: Evidence, problem?: string): void;
  /** Evidence shown for the record but not allowed to decide (an AWS profile the credential variables override). */
  addOverridden(e: Evidence): void;
  /** A subject that is present but that no detector recognises: the target is undetermined. */
  unrecognised(e: Omit<Evidence, "environment" | "detail">, what: string): void;
}

/** One kind's part of one detection; the phases run for every kind in registry order. */
export interface DetectionSession<D> {
  /** One detector of this kind, of `environment`, in policy order. */
  detect(d: D, environment: string): void;
  /** After every detector: problems of the kind's subject itself (an unreadable kubeconfig). */
  settle?(): void;
  /** Then: subjects that are present but that no detector recognised. */
  unrecognised?(): void;
  /** When no environment was determined: a problem that explains why (credential variables override a profile). */
  undetermined?(): string | undefined;
}

/** What the adapters must read before detection; the core says what, the adapter reads it. */
export interface DetectionFiles {
  /** The kubeconfig files kubectl would load, in load order. */
  kubeconfigs?: string[];
  /** The pg_service.conf files libpq would read (the adapter knows where they are). */
  pgServiceFiles?: boolean;
}

/** A policy test case's fields that stand in for what the adapters read (each kind adds its own). */
export type SimulatedKey = keyof SimulatedInputs;

export interface DetectorKind<D extends Detector = Detector> {
  /** The policy field (`- host: "db1.*"`), the detector's `type` and its evidence's `source`. */
  type: D["type"];
  /** Whether `equals`, `matches` or `regex` goes with it. */
  matcher: "required" | "optional" | "none";
  /** For `matcher: "required"`: the message and hint when the detector has none. */
  matcherMissing?: { message: string; hint: string };
  /** How the hint for a protected environment with no detectors names this kind (`DATABASE_URL`, `host`). */
  examples: readonly string[];
  /** The detector from its YAML, or null once every problem is reported through the kit. */
  read(kit: ReadKit): D | null;
  /** Its members of the detector union in the JSON Schema. */
  schema(kit: SchemaKit): z.ZodType[];
  /** How a conflict names one piece of its evidence: `kube context "prod-1"`. */
  label(e: Evidence): string;
  /** Whether its evidence is a flag the person typed (a conflict then says a flag never overrides detection). */
  fromFlag?: boolean;
  /** The invocation's variables it reads (bound into a request). */
  variables?(d: D): string[];
  /** The value matcher `guard policy lint` checks for a glob that requires one spelling of a server. */
  spelling?(d: D): { matcher: ValueMatcher; subject: string } | undefined;
  /** What the adapters must read, given the policy's detectors of this kind (never empty) and the invocation. */
  files?(detectors: readonly D[], args: readonly string[], env: Readonly<Record<string, string | undefined>>, home: string): DetectionFiles;
  /** The policy test case field that simulates what the adapters would read for it. */
  simulation?: {
    /** The field of a test case (`host`); `key` is the same input's name in SimulatedInputs. */
    field: string;
    key: SimulatedKey;
    description: string;
    apply(value: string, input: DetectionInput): DetectionInput;
  };
  /** A fresh session for one detection. */
  start(sink: DetectionSink): DetectionSession<D>;
}
