import { z } from "zod";
import { NOTIFY_EVENTS } from "../types.js";
import { DETECTORS, SIMULATED } from "../detectors/registry.js";
import { DURATION_RE } from "../duration.js";
import { BIND_ENV_RE, ENV_VAR_RE, MAX_NAME_LENGTH, NAME_RE, PG_ROLE_RE } from "./fields.js";
import { ISO_RE } from "./timestamp.js";

/**
 * The policy file format (version 1) as a zod schema: the one description of its objects and fields.
 * `npm run gen:docs` (generate.ts) renders from it the JSON Schema that editors use for completion and
 * hover help (`guard policy schema`, schema/policy.schema.json) and the loader's field table
 * (fields.generated.ts: field names, required fields, each field's type). The loader does not load zod:
 * it checks the YAML node tree against that table itself (reader.ts: Reader.check), so every problem has
 * file:line:col and did-you-mean, YAML-level doubts (`yes`, `0600`, anchors) are caught, and a policy
 * that is not cached does not pay for loading zod. A regex used here must be named in generate.ts FORMATS.
 * Each file of a policy directory is validated on its own, so only `version` is required at the top.
 */

/** How the README's policy reference names a field's type ("name", "duration"), where its zod type says too little. */
export const docType = z.registry<{ type: string }>();
const typed = <T extends z.ZodType>(schema: T, type: string): T => {
  docType.add(schema, { type });
  return schema;
};

/** The shape of a credentials `admin` source and of a webhook URL (the loader checks them further: read-credentials.ts, webhook-url.ts). */
export const SECRET_SOURCE_RE = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/;
export const WEBHOOK_URL_RE = /^(https:\/\/[\x21-\x7e]+|http:\/\/(127\.0\.0\.1|localhost|\[::1\])([:/?#][\x21-\x7e]*)?)$/;

const name = (what: string) => typed(z.string().regex(NAME_RE).max(MAX_NAME_LENGTH), "name").describe(`${what}: lowercase ASCII letters, digits, '-' and '_', starting with a letter or digit.`);
const names = (what: string, item: string) => z.array(name(item)).min(1).describe(what);
const nonEmpty = (what: string) => z.string().min(1).describe(what);
const duration = (what: string) => typed(z.string().min(1).regex(DURATION_RE), "duration").describe(what);
const timestamp = (what: string) => typed(z.string().regex(ISO_RE), "ISO 8601 time with a zone").describe(`${what} ISO 8601 time with a zone, e.g. 2026-12-23T00:00:00Z.`);
const globOf = (what: string) => typed(z.string().min(1), "glob").describe(what);

const glob = globOf("Glob, case-insensitive ('*' matches any run of characters, '/' included).");
const matchers = {
  equals: z.string().min(1).describe("The value must equal this exactly."),
  matches: globOf("The value must match this glob (case-insensitive; '*' matches any run of characters, '/' included), e.g. \"*prod-db.*\"."),
  regex: typed(z.string().min(1).max(512), "RE2 regex").describe("The value must match this regular expression, in the RE2 dialect (linear-time: no backreferences or lookaround, refused by `guard policy lint`); anchor it yourself with ^ and $."),
};
const envVar = typed(z.string().regex(ENV_VAR_RE), "variable name").describe("Name of an environment variable of the invocation, e.g. DATABASE_URL.");

/** Each detector kind describes its own members of the union (core/detectors). */
const detectorKit = { z, glob, matchers, envVar, typed };
const detectorVariants = DETECTORS.flatMap((k) => k.schema(detectorKit));
export const detectorSchema = z
  .union(detectorVariants as [z.ZodType, ...z.ZodType[]])
  .describe(`One way to recognise the environment; exactly one of ${DETECTORS.map((k) => k.type).join(", ")}.`);

const probeCommand = z.array(z.string().min(1)).min(1).describe("The probe's argv, run without a shell, with the invocation's environment and working directory, no stdin, e.g. [\"sh\", \"-c\", \"psql \\\"$DATABASE_URL\\\" -XAtc 'show guard.environment'\"]; its answer is the trimmed output (at most 4 KiB). See \"Live identity\" in the README.");
const probeTimeout = duration("How long the probe may take (default 5s, at most 60s); a probe that fails or times out refuses the run.").optional();
export const identitySchema = z
  .union([
    z.strictObject({ command: probeCommand, equals: matchers.equals, timeout: probeTimeout }),
    z.strictObject({ command: probeCommand, matches: matchers.matches, timeout: probeTimeout }),
    z.strictObject({ command: probeCommand, regex: matchers.regex, timeout: probeTimeout }),
  ])
  .describe("One identity probe: the trimmed output of `command` must match exactly one of equals, matches, regex.");

const absoluteArgv = (what: string) =>
  z.array(z.string()).min(1).describe(`${what}: the program (an absolute path, run without a shell) and its arguments.`);

export const credentialsPostgresSchema = z
  .strictObject({
    admin: z
      .string()
      .regex(SECRET_SOURCE_RE)
      .register(docType, { type: "`env:NAME` or `file:/path`" })
      .describe("Where guard reads the admin URL it creates per-run roles with: \"env:NAME\" (a variable of guard's environment) or \"file:/absolute/path\". Never reaches the child (see \"Per-run credentials\" in the README)."),
    grant: z
      .array(typed(z.string().regex(PG_ROLE_RE), "role name").describe("A role the per-run role is made a member of (not superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS; `pg_*` roles are refused)."))
      .min(1)
      .describe("Roles the per-run login role is made a member of; it has their privileges and nothing else. None may be superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS; `pg_*` roles are refused."),
    export: envVar.describe("The child's variable that receives the per-run URL, e.g. DATABASE_URL (it replaces whatever value that variable had)."),
    ttl: duration("VALID UNTIL of the per-run role, bounding a run whose guard died, e.g. 15m (default 15m, between 1m and 1d).").optional(),
  })
  .describe("A PostgreSQL login role per run, on the admin URL's host, port and database, dropped after the run.");

export const credentialsCommandSchema = z
  .strictObject({
    run: absoluteArgv("The mint command; it prints {\"env\": {NAME: VALUE, …}, \"expires\": \"ISO time\"} on stdout"),
    revoke: absoluteArgv("The revoke command; it receives the mint command's JSON on stdin after the run").optional(),
    timeout: duration("How long each command may take, e.g. 30s (default 30s, between 1s and 5m); past it the run is refused.").optional(),
  })
  .describe("Credentials from your own commands (a vault, a vendor API).");

export const credentialsSchema = z
  .union([z.strictObject({ postgres: credentialsPostgresSchema }), z.strictObject({ command: credentialsCommandSchema })])
  .describe("Credentials minted for each permitted run in this environment, given to that child alone and revoked after it; exactly one of postgres, command.");

export const environmentSchema = z
  .strictObject({
    protected: z.boolean().optional().describe("Protected state: destructive runs need approval, and a run that no rule allows is denied (default false)."),
    aliases: z.array(name("An alias")).optional().describe("Other names for this environment, accepted by --env and arg detectors (e.g. prod, prd)."),
    detect: z.array(detectorSchema).optional().describe("Detectors: any one that matches selects this environment."),
    identity: z.array(identitySchema).optional().describe("Identity probes: commands whose answer must match before anything runs against this environment."),
    description: z.string().optional().describe("Free text shown by `guard check` and in messages."),
    credentials: credentialsSchema.optional(),
  })
  .describe("A named target such as production or staging.");

export const principalSchema = z
  .strictObject({
    keys: z
      .array(nonEmpty("An SSH public key line: \"ssh-ed25519 AAAA... comment\" (ed25519, ECDSA, or RSA of at least 2048 bits)."))
      .min(1)
      .register(docType, { type: "list of `authorized_keys` lines" })
      .describe("The person's SSH public keys (`ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, `ssh-rsa` of at least 2048 bits); a key belongs to exactly one principal."),
    groups: z.array(name("A group")).optional().describe("Groups the person belongs to, used by `from` and `break_glass.groups`."),
  })
  .describe("A person who signs requests and approvals.");

export const matchSchema = z
  .strictObject({
    environments: names("Canonical environment names the rule applies to; omitted = any.", "An environment").optional(),
    commands: z
      .array(globOf("A command glob: with a '/', matched against the program's real path relative to the policy root (e.g. \"maintenance/purge-*.sh\"); without, against its base name (e.g. \"terraform\")."))
      .min(1)
      .optional()
      .describe("Command globs: with a '/', matched against the program's real path relative to the policy root; without, against its base name (\"terraform\"). Omitted = any command."),
    args: z
      .array(globOf("An argument glob; it must match at least one single argument."))
      .min(1)
      .optional()
      .describe("Argument globs; each must match at least one single argument (never the joined command line), case-sensitive. A presence test: `args: [\"logs\"]` also matches `kubectl -n logs exec …` (the namespace). `guard policy lint` warns (`args-presence-only`) about an allow whose args are bare words: allow the command and name what must not pass in deny or require rules instead (see examples/kubectl)."),
  })
  .describe("Which runs the rule applies to; every given field must match.");

export const previewSchema = z
  .strictObject({
    command: z
      .array(nonEmpty("An argument of the preview command; an element exactly \"{program}\" is the resolved program, \"{args}\" the run's arguments, each its own element."))
      .min(1)
      .describe("The dry run's argv, run without a shell: an element exactly \"{program}\" is the resolved program, \"{args}\" the run's arguments, each its own element, e.g. [\"{program}\", \"--dry-run\", \"{args}\"]."),
    recheck: z.boolean().optional().describe("Run it again just before exec, before the approval is consumed, and refuse (77, showing the difference) when its output or exit status changed (default false)."),
    timeout: duration("How long the preview may take, e.g. 30s (default 30s, between 1s and 10m); longer refuses the request.").optional(),
  })
  .describe("A dry run guard executes as the requester when the request is made; its output (at most 64 KiB) is stored in the signed request and shown to approvers. A failing or hanging preview refuses the request.");

export const requireSchema = z
  .strictObject({
    approvals: typed(z.number().int().min(1), "integer ≥ 1").describe("How many distinct principals other than the requester must approve (at least 1, at most the eligible principals)."),
    from: names("Groups the approvers must belong to; omitted = any principal.", "A group").optional(),
    reason: z.boolean().optional().describe("A reason must be given with the request (default false)."),
    confirm: z.boolean().optional().describe("The requester must type the environment's name, or pass --confirm ENV (default false)."),
    ttl: duration("How long the request and its approvals live, e.g. 30m, 1h30m (default 1h, between 1m and 7d).").optional(),
    preview: previewSchema.optional(),
  })
  .describe("Approvals needed before the run.");

const ruleBase = {
  name: name("The rule's name, unique in the policy and shown in decisions and audit events"),
  description: z.string().optional().describe("Free text shown by `guard check`."),
  match: matchSchema,
};
export const ruleSchema = z
  .union([
    z.strictObject({ ...ruleBase, allow: z.literal(true).describe("Allow matching runs.") }),
    z.strictObject({ ...ruleBase, deny: nonEmpty("Refuse matching runs, with this message.") }),
    z.strictObject({ ...ruleBase, require: requireSchema }),
  ])
  .describe("A match and exactly one effect: allow, deny or require. The most restrictive matching effect wins.");

export const freezeSchema = z
  .strictObject({
    name: name("The freeze's name, unique in the policy"),
    environments: names("Environments frozen.", "An environment"),
    from: timestamp("Start (inclusive):"),
    until: timestamp("End (exclusive); both ends are compared with the store's clock (on PostgreSQL the server's), the one approvals and expiry use:"),
    reason: nonEmpty("Why; shown with every refusal."),
  })
  .describe("A period in which every run in the environments is denied (break-glass aside).");

export const breakGlassSchema = z
  .strictObject({
    environments: names("Environments where break-glass may be used; an absent `break_glass` section means no break-glass at all.", "An environment"),
    groups: names("Groups whose members may break glass.", "A group"),
  })
  .describe("Emergency bypass of approvals: always with a reason, always audited and flagged. Absent = no break-glass.");

export const webhookSchema = z
  .strictObject({
    name: name("The webhook's name, unique in the policy; shown (instead of its URL) in warnings and audit events"),
    url: typed(z.string(), "URL")
      .regex(WEBHOOK_URL_RE)
      .max(2048)
      .describe("Where to POST the JSON payload: https, or plain http to 127.0.0.1/localhost/[::1] only. It may hold a secret (userinfo, path, query), which guard never prints."),
    format: z.enum(["json", "slack"]).optional().describe("json (guard's own payload, the default) or slack (text and blocks for Slack-compatible incoming webhooks)."),
    events: z.array(z.enum(NOTIFY_EVENTS)).min(1).optional().describe("Events to send; omitted = all of them."),
    environments: names("Only for requests and runs against these environments; omitted = any.", "An environment").optional(),
    timeout: duration("How long to wait for the webhook, e.g. 3s (default 3s, between 1s and 10s). A failing or slow webhook never blocks a run.").optional(),
  })
  .describe("A webhook called when a request is created, approved or denied, or a run starts or finishes.");

export const notificationsSchema = z
  .strictObject({
    webhooks: z.array(webhookSchema).min(1).describe("Webhooks; a failing one is reported and audited, never blocks a run."),
  })
  .describe("Who is told about requests, approvals and runs.");

export const policyFileSchema = z
  .strictObject({
    version: z.literal(1).describe("Policy format version; must be 1 in every file."),
    environments: z.record(z.string().regex(NAME_RE).max(MAX_NAME_LENGTH), environmentSchema).optional().describe("Environments by canonical name."),
    default_environment: name(
      "The environment used only when no detector's subject is present at all (no detector variable set, no kube context, no detector flag) and no --env is given; a subject that is present but unrecognised is refused; without it an undetermined target is denied",
    ).optional(),
    principals: z.record(z.string().regex(NAME_RE).max(MAX_NAME_LENGTH), principalSchema).optional().describe("People by name."),
    rules: z.array(ruleSchema).optional().describe("Rules, in order."),
    freezes: z.array(freezeSchema).optional().describe("Change freezes."),
    break_glass: breakGlassSchema.optional(),
    bind_env: z
      .array(z.string().regex(BIND_ENV_RE).describe("A variable name or a glob over names, e.g. VAULT_*."))
      .optional()
      .register(docType, { type: "list of names or globs" })
      .describe("Extra consequential variables (e.g. VAULT_*): the approver sees their values, and one that appears at run time refuses the run. Every variable is bound by its digest anyway; a name here also binds one that may otherwise vary (TERM)."),
    notifications: notificationsSchema.optional(),
  })
  .describe("An access-guard policy file (all *.yaml files of the policy directory but *.test.yaml are merged).");

export const expectSchema = z
  .strictObject({
    decision: z.enum(["allow", "deny", "approval"]).describe("The decision the run must get."),
    environment: name("The canonical environment the decision must be about").optional(),
    rules: z.array(name("A rule")).optional().describe("Exactly these matching rules, in any order ([] = none)."),
    reasons_contain: z.array(nonEmpty("Text that must occur in one of the reasons.")).min(1).optional().describe("Texts that must each occur in some reason of the decision."),
  })
  .describe("What the test expects.");

export const testCaseSchema = z
  .strictObject({
    name: nonEmpty("The test's name."),
    run: z.array(z.string()).min(1).describe("The command: program first (a path relative to the policy root, or a bare name), then its arguments."),
    env: z.record(z.string().regex(ENV_VAR_RE), z.string()).optional().describe("Environment variables of the invocation."),
    ...Object.fromEntries(SIMULATED.map((s) => [s.field, nonEmpty(s.description).optional()])),
    identity: z.record(z.string(), z.string()).optional().describe("What the identity probes answer, per environment name, e.g. { staging: elb-stg-21c9 }; an environment with probes and no answer here is refused."),
    declared_env: nonEmpty("The environment declared with `guard run --env`.").optional(),
    now: timestamp("When the run happens:").optional(),
    expect: expectSchema,
  })
  .describe("One invocation and the decision it must get.");

export const policyTestFileSchema = z
  .strictObject({
    version: z.literal(1).optional().describe("Policy format version (optional in test files)."),
    now: timestamp("Default time for cases without their own `now`:").optional(),
    tests: z.array(testCaseSchema).min(1).describe("The test cases."),
  })
  .describe("Policy tests for `guard policy test` (*.test.yaml).");

const toJson = (schema: z.ZodType): Record<string, unknown> => z.toJSONSchema(schema, { target: "draft-2020-12", io: "input" }) as Record<string, unknown>;

/** JSON Schema (draft 2020-12) of one policy file, for editors. */
export function policyJsonSchema(): Record<string, unknown> {
  return toJson(policyFileSchema);
}

/** JSON Schema of one policy test file (*.test.yaml). */
export function policyTestJsonSchema(): Record<string, unknown> {
  return toJson(policyTestFileSchema);
}
