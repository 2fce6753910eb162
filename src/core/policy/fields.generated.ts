// Generated from src/core/policy/schema.ts by `npm run gen:docs` (src/core/policy/generate.ts): do not edit.
// The field names and required fields of every object of a policy or policy-test file, as the loader checks them.
export const FIELDS = {
  policyFile: { fields: ["version", "environments", "default_environment", "principals", "rules", "freezes", "break_glass", "bind_env", "notifications"], required: ["version"] },
  environment: { fields: ["protected", "aliases", "detect", "identity", "description", "credentials"], required: [] },
  identity: { fields: ["command", "equals", "timeout", "matches", "regex"], required: ["command"] },
  credentials: { fields: ["postgres", "command"], required: [] },
  credentialsPostgres: { fields: ["admin", "grant", "export", "ttl"], required: ["admin", "grant", "export"] },
  credentialsCommand: { fields: ["run", "revoke", "timeout"], required: ["run"] },
  detector: { fields: ["env", "equals", "matches", "regex", "kube_context", "host", "arg", "argument"], required: [] },
  principal: { fields: ["keys", "groups"], required: ["keys"] },
  rule: { fields: ["name", "description", "match", "allow", "deny", "require"], required: ["name", "match"] },
  match: { fields: ["environments", "commands", "args"], required: [] },
  require: { fields: ["approvals", "from", "reason", "confirm", "ttl", "preview"], required: ["approvals"] },
  preview: { fields: ["command", "recheck", "timeout"], required: ["command"] },
  freeze: { fields: ["name", "environments", "from", "until", "reason"], required: ["name", "environments", "from", "until", "reason"] },
  breakGlass: { fields: ["environments", "groups"], required: ["environments", "groups"] },
  notifications: { fields: ["webhooks"], required: ["webhooks"] },
  webhook: { fields: ["name", "url", "format", "events", "environments", "timeout"], required: ["name", "url"] },
  testFile: { fields: ["version", "now", "tests"], required: ["tests"] },
  testCase: { fields: ["name", "run", "env", "host", "kube_context", "identity", "declared_env", "now", "expect"], required: ["name", "run", "expect"] },
  expect: { fields: ["decision", "environment", "rules", "reasons_contain"], required: ["decision"] },
} as const;
