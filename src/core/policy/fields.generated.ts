// Generated from src/core/policy/schema.ts by `npm run gen:docs` (src/core/policy/generate.ts): do not edit.
// Every object of a policy or policy-test file as the loader checks it: field names, required fields, a union's
// variant keys (the fields only some variants have), each field's type.
import type { FieldType } from "./field-type.js";

export const FIELDS = {
  policyFile: {
    fields: ["version", "environments", "default_environment", "principals", "rules", "freezes", "break_glass", "bind_env", "notifications"],
    required: ["version"],
    types: {
      version: { type: "literal", values: [1] },
      environments: { type: "record", key: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, value: { type: "object", ref: "environment" } },
      default_environment: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ },
      principals: { type: "record", key: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, value: { type: "object", ref: "principal" } },
      rules: { type: "list", item: { type: "object", ref: "rule" } },
      freezes: { type: "list", item: { type: "object", ref: "freeze" } },
      break_glass: { type: "object", ref: "breakGlass" },
      bind_env: { type: "list", item: { type: "string", format: "bind_env", pattern: /^[A-Za-z_*][A-Za-z0-9_*]*$/ } },
      notifications: { type: "object", ref: "notifications" },
    },
  },
  environment: {
    fields: ["protected", "aliases", "detect", "identity", "description", "credentials"],
    required: [],
    types: {
      protected: { type: "boolean" },
      aliases: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ } },
      detect: { type: "list", item: { type: "object", ref: "detector" } },
      identity: { type: "list", item: { type: "object", ref: "identity" } },
      description: { type: "string" },
      credentials: { type: "object", ref: "credentials" },
    },
  },
  identity: {
    fields: ["command", "equals", "timeout", "matches", "regex"],
    required: ["command"],
    variantKeys: ["equals", "matches", "regex"],
    types: {
      command: { type: "list", item: { type: "string", min: 1 }, min: 1 },
      equals: { type: "string", min: 1 },
      timeout: { type: "string", min: 1, format: "duration", pattern: /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/ },
      matches: { type: "string", min: 1 },
      regex: { type: "string", min: 1, max: 512 },
    },
  },
  credentials: {
    fields: ["postgres", "command"],
    required: [],
    variantKeys: ["postgres", "command"],
    types: {
      postgres: { type: "object", ref: "credentialsPostgres" },
      command: { type: "object", ref: "credentialsCommand" },
    },
  },
  credentialsPostgres: {
    fields: ["admin", "grant", "export", "ttl"],
    required: ["admin", "grant", "export"],
    types: {
      admin: { type: "string", format: "secret_source", pattern: /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/ },
      grant: { type: "list", item: { type: "string", format: "role", pattern: /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/ }, min: 1 },
      export: { type: "string", format: "variable", pattern: /^[A-Za-z_][A-Za-z0-9_]*$/ },
      ttl: { type: "string", min: 1, format: "duration", pattern: /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/ },
    },
  },
  credentialsCommand: {
    fields: ["run", "revoke", "timeout"],
    required: ["run"],
    types: {
      run: { type: "list", item: { type: "string" }, min: 1 },
      revoke: { type: "list", item: { type: "string" }, min: 1 },
      timeout: { type: "string", min: 1, format: "duration", pattern: /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/ },
    },
  },
  detector: {
    fields: ["env", "equals", "matches", "regex", "kube_context", "host", "arg", "argument"],
    required: [],
    variantKeys: ["env", "equals", "matches", "regex", "kube_context", "host", "arg", "argument"],
    types: {
      env: { type: "string", format: "variable", pattern: /^[A-Za-z_][A-Za-z0-9_]*$/ },
      equals: { type: "string", min: 1 },
      matches: { type: "string", min: 1 },
      regex: { type: "string", min: 1, max: 512 },
      kube_context: { type: "string", min: 1 },
      host: { type: "string", min: 1 },
      arg: { type: "string", format: "flag", pattern: /^--?[A-Za-z0-9][A-Za-z0-9_-]*$/ },
      argument: { type: "string", min: 1 },
    },
  },
  principal: {
    fields: ["keys", "groups"],
    required: ["keys"],
    types: {
      keys: { type: "list", item: { type: "string", min: 1 }, min: 1 },
      groups: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ } },
    },
  },
  rule: {
    fields: ["name", "description", "match", "allow", "deny", "require"],
    required: ["name", "match"],
    variantKeys: ["allow", "deny", "require"],
    types: {
      name: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ },
      description: { type: "string" },
      match: { type: "object", ref: "match" },
      allow: { type: "literal", values: [true] },
      deny: { type: "string", min: 1 },
      require: { type: "object", ref: "require" },
    },
  },
  match: {
    fields: ["environments", "commands", "args"],
    required: [],
    types: {
      environments: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, min: 1 },
      commands: { type: "list", item: { type: "string", min: 1 }, min: 1 },
      args: { type: "list", item: { type: "string", min: 1 }, min: 1 },
    },
  },
  require: {
    fields: ["approvals", "from", "reason", "confirm", "ttl", "preview"],
    required: ["approvals"],
    types: {
      approvals: { type: "integer", min: 1 },
      from: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, min: 1 },
      reason: { type: "boolean" },
      confirm: { type: "boolean" },
      ttl: { type: "string", min: 1, format: "duration", pattern: /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/ },
      preview: { type: "object", ref: "preview" },
    },
  },
  preview: {
    fields: ["command", "recheck", "timeout"],
    required: ["command"],
    types: {
      command: { type: "list", item: { type: "string", min: 1 }, min: 1 },
      recheck: { type: "boolean" },
      timeout: { type: "string", min: 1, format: "duration", pattern: /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/ },
    },
  },
  freeze: {
    fields: ["name", "environments", "from", "until", "reason"],
    required: ["name", "environments", "from", "until", "reason"],
    types: {
      name: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ },
      environments: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, min: 1 },
      from: { type: "string", format: "timestamp", pattern: /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/ },
      until: { type: "string", format: "timestamp", pattern: /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/ },
      reason: { type: "string", min: 1 },
    },
  },
  breakGlass: {
    fields: ["environments", "groups"],
    required: ["environments", "groups"],
    types: {
      environments: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, min: 1 },
      groups: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, min: 1 },
    },
  },
  notifications: {
    fields: ["webhooks"],
    required: ["webhooks"],
    types: {
      webhooks: { type: "list", item: { type: "object", ref: "webhook" }, min: 1 },
    },
  },
  webhook: {
    fields: ["name", "url", "format", "events", "environments", "timeout"],
    required: ["name", "url"],
    types: {
      name: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ },
      url: { type: "string", max: 2048, format: "url", pattern: /^(https:\/\/[\x21-\x7e]+|http:\/\/(127\.0\.0\.1|localhost|\[::1\])([:/?#][\x21-\x7e]*)?)$/ },
      format: { type: "enum", values: ["json", "slack"] },
      events: { type: "list", item: { type: "enum", values: ["request.created", "request.approved", "request.denied", "run.started", "run.finished", "breakglass.used"] }, min: 1 },
      environments: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ }, min: 1 },
      timeout: { type: "string", min: 1, format: "duration", pattern: /^(?:(0|[1-9]\d*)d)?(?:(0|[1-9]\d*)h)?(?:(0|[1-9]\d*)m)?(?:(0|[1-9]\d*)s)?$/ },
    },
  },
  testFile: {
    fields: ["version", "now", "tests"],
    required: ["tests"],
    types: {
      version: { type: "literal", values: [1] },
      now: { type: "string", format: "timestamp", pattern: /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/ },
      tests: { type: "list", item: { type: "object", ref: "testCase" }, min: 1 },
    },
  },
  testCase: {
    fields: ["name", "run", "env", "host", "kube_context", "identity", "declared_env", "now", "expect"],
    required: ["name", "run", "expect"],
    types: {
      name: { type: "string", min: 1 },
      run: { type: "list", item: { type: "string" }, min: 1 },
      env: { type: "record", key: { type: "string", format: "variable", pattern: /^[A-Za-z_][A-Za-z0-9_]*$/ }, value: { type: "string" } },
      host: { type: "string", min: 1 },
      kube_context: { type: "string", min: 1 },
      identity: { type: "record", key: { type: "string" }, value: { type: "string" } },
      declared_env: { type: "string", min: 1 },
      now: { type: "string", format: "timestamp", pattern: /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/ },
      expect: { type: "object", ref: "expect" },
    },
  },
  expect: {
    fields: ["decision", "environment", "rules", "reasons_contain"],
    required: ["decision"],
    types: {
      decision: { type: "enum", values: ["allow", "deny", "approval"] },
      environment: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ },
      rules: { type: "list", item: { type: "string", max: 64, format: "name", pattern: /^[a-z0-9][a-z0-9_-]*$/ } },
      reasons_contain: { type: "list", item: { type: "string", min: 1 }, min: 1 },
    },
  },
} as const satisfies Record<string, { fields: readonly string[]; required: readonly string[]; variantKeys?: readonly string[]; types: Record<string, FieldType> }>;
