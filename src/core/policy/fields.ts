/**
 * The objects of a policy or policy-test file as the loader checks them: how messages name each one, and
 * its field names, required fields and field types, which are generated from the one schema (schema.ts) into
 * fields.generated.ts by `npm run gen:docs`. A detector's kinds, and a test case's simulated inputs, are
 * the detector modules' (core/detectors), which contribute their pieces of the schema.
 */
import { ENV_VAR_RE } from "../names.js";
import type { FieldType } from "./field-type.js";
import { FIELDS } from "./fields.generated.js";

/** How a probe or detector compares a value: the fields that tell an identity probe's variants apart. */
export const VALUE_MATCHERS = FIELDS.identity.variantKeys;

export interface ObjectSpec {
  /** How messages name the object: "a rule", "a detector". */
  label: string;
  fields: readonly string[];
  required: readonly string[];
  /** A union's fields that only some variants have (exactly one of them is the loader's check, in code). */
  variantKeys?: readonly string[];
  /** Each field's type, from the schema. */
  types: Readonly<Record<string, FieldType>>;
}

const LABELS = {
  policyFile: "a policy file",
  environment: "an environment",
  identity: "an identity probe",
  credentials: "an environment's `credentials`",
  credentialsPostgres: "`credentials.postgres`",
  credentialsCommand: "`credentials.command`",
  detector: "a detector",
  principal: "a principal",
  rule: "a rule",
  match: "a rule's `match`",
  require: "a rule's `require`",
  preview: "a rule's `require.preview`",
  freeze: "a freeze",
  breakGlass: "`break_glass`",
  notifications: "`notifications`",
  webhook: "a webhook",
  testFile: "a policy test file",
  testCase: "a test case",
  expect: "a test's `expect`",
} as const satisfies Record<keyof typeof FIELDS, string>;

export type SpecName = keyof typeof FIELDS;

export const SPECS = Object.fromEntries((Object.keys(FIELDS) as SpecName[]).map((name) => [name, { label: LABELS[name], ...FIELDS[name] }])) as unknown as Record<SpecName, ObjectSpec>;

/** A rule's effects and an environment's credential providers: the fields that tell their variants apart. */
export const EFFECTS = FIELDS.rule.variantKeys;
export const CREDENTIAL_PROVIDERS = FIELDS.credentials.variantKeys;
/** A PostgreSQL role name guard will quote: letters, digits, `_`, `$`, `-`, `.`; at most 63 bytes. */
export const PG_ROLE_RE = /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/;

/** Names of environments, aliases, principals, groups, rules and freezes: lowercase ASCII (E2). */
export const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;
export const MAX_NAME_LENGTH = 64;
/** An environment variable's name (defined in names.ts, which the detector kinds use too). */
export { ENV_VAR_RE };
/** `bind_env` entries: variable names, or globs over them such as `VAULT_*`. */
export const BIND_ENV_RE = /^[A-Za-z_*][A-Za-z0-9_*]*$/;

/** Which objects have a field: for "`deny` is a field of a rule" hints when something is mis-indented. */
export function ownersOf(field: string): string[] {
  return Object.values(SPECS)
    .filter((s) => (s.fields as readonly string[]).includes(field))
    .map((s) => s.label);
}
