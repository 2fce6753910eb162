/**
 * The field names of every object in a policy or policy-test file, as the loader checks them. The zod
 * schema in schema.ts describes the same objects for the JSON Schema; a test keeps the two in step.
 * A detector's kinds, and a test case's simulated inputs, are the detector modules' (core/detectors).
 */
import { DETECTORS, SIMULATED } from "../detectors/registry.js";
import { ENV_VAR_RE } from "../names.js";

export const VALUE_MATCHERS = ["equals", "matches", "regex"] as const;

export interface ObjectSpec {
  /** How messages name the object: "a rule", "a detector". */
  label: string;
  fields: readonly string[];
  required: readonly string[];
}

export const SPECS = {
  policyFile: {
    label: "a policy file",
    fields: ["version", "environments", "default_environment", "principals", "rules", "freezes", "break_glass", "bind_env", "notifications"],
    required: ["version"],
  },
  environment: { label: "an environment", fields: ["protected", "aliases", "detect", "identity", "description", "credentials"], required: [] },
  identity: { label: "an identity probe", fields: ["command", "equals", "matches", "regex", "timeout"], required: ["command"] },
  credentials: { label: "an environment's `credentials`", fields: ["postgres", "command"], required: [] },
  credentialsPostgres: { label: "`credentials.postgres`", fields: ["admin", "grant", "export", "ttl"], required: ["admin", "grant", "export"] },
  credentialsCommand: { label: "`credentials.command`", fields: ["run", "revoke", "timeout"], required: ["run"] },
  detector: { label: "a detector", fields: [...DETECTORS.map((k) => k.type), ...VALUE_MATCHERS], required: [] },
  principal: { label: "a principal", fields: ["keys", "groups"], required: ["keys"] },
  rule: { label: "a rule", fields: ["name", "description", "match", "allow", "deny", "require"], required: ["name", "match"] },
  match: { label: "a rule's `match`", fields: ["environments", "commands", "args"], required: [] },
  require: { label: "a rule's `require`", fields: ["approvals", "from", "reason", "confirm", "ttl", "preview"], required: ["approvals"] },
  preview: { label: "a rule's `require.preview`", fields: ["command", "recheck", "timeout"], required: ["command"] },
  freeze: { label: "a freeze", fields: ["name", "environments", "from", "until", "reason"], required: ["name", "environments", "from", "until", "reason"] },
  breakGlass: { label: "`break_glass`", fields: ["environments", "groups"], required: ["environments", "groups"] },
  notifications: { label: "`notifications`", fields: ["webhooks"], required: ["webhooks"] },
  webhook: { label: "a webhook", fields: ["name", "url", "format", "events", "environments", "timeout"], required: ["name", "url"] },
  testFile: { label: "a policy test file", fields: ["version", "now", "tests"], required: ["tests"] },
  testCase: { label: "a test case", fields: ["name", "run", "env", ...SIMULATED.map((s) => s.field), "identity", "declared_env", "now", "expect"], required: ["name", "run", "expect"] },
  expect: { label: "a test's `expect`", fields: ["decision", "environment", "rules", "reasons_contain"], required: ["decision"] },
} as const satisfies Record<string, ObjectSpec>;

export type SpecName = keyof typeof SPECS;

export const EFFECTS = ["allow", "deny", "require"] as const;
export const CREDENTIAL_PROVIDERS = ["postgres", "command"] as const;
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
