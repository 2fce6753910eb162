import { isMap, isSeq, type Node } from "yaml";
import { globProblem } from "../glob.js";
import { parseAuthorizedKey } from "../sshkey.js";
import type { BreakGlass, Detector, Environment, Freeze, IdentityProbe, PreviewSpec, Principal, PublicKey, Rule, RuleEffect, RuleMatch, SourceLocation, ValueMatcher } from "../types.js";
import { PREVIEW_DEFAULT_TIMEOUT_SECONDS, PREVIEW_MAX_TIMEOUT_SECONDS, PREVIEW_MIN_TIMEOUT_SECONDS } from "../preview.js";
import { EFFECTS, SPECS, VALUE_MATCHERS } from "./fields.js";
import { DETECTORS, oneOf } from "../detectors/registry.js";
import type { ReadKit } from "../detectors/kind.js";
import type { Field, Reader, YNode } from "./reader.js";
import { regexProblem } from "./regex-check.js";
import { readDuration, readTimestamp } from "./read-values.js";
import { readNotifications, type WebhookDef } from "./read-notifications.js";
import { readCredentials } from "./read-credentials.js";
import { describeNode } from "./yaml-read.js";

import type { Ref } from "./ref.js";
export type { Ref };

export interface EnvironmentDef {
  env: Environment;
  at: SourceLocation;
  aliases: Ref[];
}

export interface PrincipalDef {
  principal: Principal;
  at: SourceLocation;
  keys: { key: PublicKey; at: SourceLocation }[];
}

export interface RuleDef {
  rule: Rule;
  at: SourceLocation;
  environments: Ref[];
  from: Ref[];
  approvalsAt?: SourceLocation;
}

export interface FreezeDef {
  freeze: Freeze;
  at: SourceLocation;
  environments: Ref[];
}

/** Everything one policy file defines, located, before files are merged and cross-checked. */
export interface FileFragment {
  file: string;
  environments: EnvironmentDef[];
  principals: PrincipalDef[];
  rules: RuleDef[];
  freezes: FreezeDef[];
  defaultEnvironment?: Ref;
  breakGlass?: { value: BreakGlass; at: SourceLocation; environments: Ref[]; groups: Ref[] };
  bindEnv?: { value: string[]; at: SourceLocation };
  /** `notifications.webhooks`; merged across files like rules, names unique. */
  webhooks: WebhookDef[];
  /** Group names as principals declare them. */
  groups: Ref[];
  /** How many environments and rules the file tried to define (valid or not), for the "no rules" check. */
  environmentCount: number;
  ruleCount: number;
}

/** The TTL of a `require` when none is given, and its bounds. */
export const DEFAULT_TTL_SECONDS = 3600;
export const MIN_TTL_SECONDS = 60;
export const MAX_TTL_SECONDS = 7 * 86_400;

/** Read one (non-test) policy file's root node into a fragment, reporting every problem on the way. */
export function readPolicyFile(root: Node, r: Reader, file: string): FileFragment {
  const frag: FileFragment = { file, environments: [], principals: [], rules: [], freezes: [], webhooks: [], groups: [], environmentCount: 0, ruleCount: 0 };
  const map = r.map(root, "a policy file");
  if (!map) return frag;
  const f = r.fields(map, SPECS.policyFile);

  const version = f.get("version");
  if (version) {
    const v = r.count(version);
    if (v !== null && v !== 1) r.error(version.value, "unsupported-version", `\`version\` must be 1, not ${v}`, "this guard reads policy format version 1");
  }
  const envs = f.get("environments");
  if (envs) {
    for (const e of r.records(envs, "the environment name")) {
      frag.environmentCount++;
      const def = readEnvironment(r, e.name, e.key, e.value);
      if (def) frag.environments.push(def);
    }
  }
  const principals = f.get("principals");
  if (principals) {
    for (const e of r.records(principals, "the principal name")) {
      const def = readPrincipal(r, e.name, e.key, e.value, frag.groups);
      if (def) frag.principals.push(def);
    }
  }
  const rules = f.get("rules");
  if (rules) {
    for (const item of r.objects(rules) ?? []) {
      frag.ruleCount++;
      const def = readRule(r, item);
      if (def) frag.rules.push(def);
    }
  }
  const freezes = f.get("freezes");
  if (freezes) {
    for (const item of r.objects(freezes) ?? []) {
      const def = readFreeze(r, item);
      if (def) frag.freezes.push(def);
    }
  }
  const dflt = f.get("default_environment");
  if (dflt) {
    const name = r.text(dflt);
    if (name !== null) frag.defaultEnvironment = { name, at: r.loc(dflt.value) };
  }
  const bg = f.get("break_glass");
  if (bg) frag.breakGlass = readBreakGlass(r, bg) ?? undefined;
  const bind = f.get("bind_env");
  if (bind) {
    const items = r.list(bind, "`bind_env`", { item: "a `bind_env` entry", each: (s, n) => bindEnvEntry(r, n, s) });
    if (items) frag.bindEnv = { value: items.map((i) => i.value), at: r.loc(bind.key) };
  }
  const notifications = f.get("notifications");
  if (notifications) frag.webhooks = readNotifications(r, notifications);
  return frag;
}

function readEnvironment(r: Reader, name: string | null, key: YNode, value: YNode): EnvironmentDef | null {
  if (!isMap(value)) {
    r.error(value ?? key, "wrong-type", `environment \`${String(name)}\` must be a mapping, not ${describeNode(value)}`, `write \`${String(name)}: {}\` for an environment with all defaults (unprotected, no aliases, no detectors)`);
  }
  if (name === null) return null;
  const env: Environment = { name, protected: false, aliases: [], detect: [], at: r.loc(key) };
  const def: EnvironmentDef = { env, at: r.loc(key), aliases: [] };
  if (!isMap(value)) return def;
  const map = value;
  const f = r.fields(map, SPECS.environment);
  const prot = f.get("protected");
  if (prot) env.protected = r.flag(prot) ?? true;
  const aliases = f.get("aliases");
  if (aliases) {
    for (const a of r.list(aliases, "`aliases`", { item: "an alias" }) ?? []) {
      env.aliases.push(a.value);
      def.aliases.push({ name: a.value, at: r.loc(a.node) });
    }
  }
  const detect = f.get("detect");
  if (detect) {
    for (const item of r.objects(detect) ?? []) {
      const d = readDetector(r, item);
      if (d) env.detect.push(d);
    }
  }
  const desc = f.get("description");
  if (desc) {
    const s = r.text(desc);
    if (s !== null) env.description = s;
  }
  const identity = f.get("identity");
  if (identity) {
    env.identity = [];
    for (const item of r.objects(identity) ?? []) {
      const p = readIdentityProbe(r, item);
      if (p) env.identity.push(p);
    }
  }
  const creds = f.get("credentials");
  if (creds) {
    const c = readCredentials(r, creds);
    if (c) env.credentials = c;
  }
  return def;
}

export const DEFAULT_PROBE_TIMEOUT_SECONDS = 5;
export const MAX_PROBE_TIMEOUT_SECONDS = 60;

function readIdentityProbe(r: Reader, node: YNode): IdentityProbe | null {
  const map = r.map(node, "an identity probe");
  if (!map) return null;
  const f = r.fields(map, SPECS.identity);
  const commandF = f.get("command");
  if (!commandF) return null;
  // An empty list is worded here (it needs a program), not as the schema's `min: 1`.
  const empty = isSeq(commandF.value) && commandF.value.items.length === 0;
  const items = empty ? [] : r.list(commandF);
  if (items === null || (!empty && items.length !== (commandF.value as { items: unknown[] }).items.length)) return null;
  const command = items.map((s) => s.value);
  if (command.length === 0) {
    r.error(commandF.value, "bad-probe", "an identity probe's `command` needs a program to run", 'e.g. `command: ["sh", "-c", "psql \\"$DATABASE_URL\\" -XAtc \'show guard.environment\'"]`');
    return null;
  }
  const matchers = VALUE_MATCHERS.filter((k) => f.has(k));
  if (matchers.length !== 1) {
    r.error(matchers.length === 0 ? map : f.get(matchers[1]!)!.key, "probe-matcher", "an identity probe compares its answer one way: exactly one of `equals`, `matches` or `regex`", "e.g. `equals: elb-prod-7f3a`");
    return null;
  }
  const matcher = readMatcher(r, matchers[0]!, f.get(matchers[0]!)!);
  if (matcher === null) return null;
  const timeoutF = f.get("timeout");
  const timeoutSeconds = timeoutF ? readDuration(r, timeoutF, 1, MAX_PROBE_TIMEOUT_SECONDS) : DEFAULT_PROBE_TIMEOUT_SECONDS;
  if (timeoutSeconds === null) return null;
  return { command, matcher, timeoutSeconds, at: r.loc(map) };
}

/** A detector: which kind it is (core/detectors), its matcher, then the kind's own reading of its field. */
function readDetector(r: Reader, node: YNode): Detector | null {
  const map = r.map(node, "a detector");
  if (!map) return null;
  const f = r.fields(map, SPECS.detector);
  const kinds = DETECTORS.filter((k) => f.has(k.type));
  const matchers = VALUE_MATCHERS.filter((k) => f.has(k));
  if (kinds.length === 0) {
    r.error(map, "detector-kind", `a detector needs one of ${oneOf(DETECTORS.map((k) => `\`${k.type}\``))}`, "say what to look at, e.g. `- env: DATABASE_URL` with `matches: \"*prod-db.*\"`");
    return null;
  }
  if (kinds.length > 1) {
    r.error(f.get(kinds[1]!.type)!.key, "detector-kind", `a detector looks at one thing, but this one has both \`${kinds[0]!.type}\` and \`${kinds[1]!.type}\``, "split it into two detectors (any matching detector selects the environment)");
    return null;
  }
  const kind = kinds[0]!;
  const at = r.loc(map);
  const subject = f.get(kind.type)!;
  if (kind.matcher !== "none") {
    if (matchers.length > 1) {
      r.error(f.get(matchers[1]!)!.key, "detector-matcher", `a detector compares one way, but this one has both \`${matchers[0]}\` and \`${matchers[1]}\``, "keep one of `equals`, `matches` or `regex`");
      return null;
    }
    if (kind.matcher === "required" && matchers.length === 0) {
      const missing = kind.matcherMissing ?? { message: `a \`${kind.type}\` detector needs \`equals\`, \`matches\` or \`regex\``, hint: "e.g. `equals: prod`" };
      r.error(map, "detector-matcher", missing.message, missing.hint);
      return null;
    }
  } else if (matchers.length > 0) {
    const withMatchers = oneOf(DETECTORS.filter((k) => k.matcher !== "none").map((k) => `\`${k.type}\``));
    r.error(f.get(matchers[0]!)!.key, "detector-matcher", `\`${matchers[0]}\` goes with ${withMatchers} detectors; a \`${kind.type}\` detector is a glob itself`, `write the pattern as the value of \`${kind.type}\``);
    return null;
  }
  const matcher = matchers[0] ? readMatcher(r, matchers[0], f.get(matchers[0])!) : undefined;
  if (matcher === null) return null;
  const kit: ReadKit = {
    string: (what) => r.text(subject, what),
    glob: (what) => checkGlob(r, subject.value, r.text(subject, what), what),
    error: (code, message, hint) => r.error(subject.value, code, message, hint),
    matcher,
    at,
  };
  return kind.read(kit);
}

function readMatcher(r: Reader, kind: (typeof VALUE_MATCHERS)[number], field: Field): ValueMatcher | null {
  const s = r.text(field);
  if (s === null) return null;
  if (kind === "equals") return { kind: "equals", value: s };
  if (kind === "matches") return checkGlob(r, field.value, s, "`matches`") === null ? null : { kind: "glob", pattern: s };
  const problem = regexProblem(s, r.regex);
  if (problem) {
    r.error(field.value, "bad-regex", problem, "fix the regex, or use `matches:` with a glob, which cannot backtrack");
    return null;
  }
  return { kind: "regex", pattern: s };
}

function readPrincipal(r: Reader, name: string | null, key: YNode, value: YNode, groups: Ref[]): PrincipalDef | null {
  const map = r.map(value, `principal \`${String(name)}\``);
  if (name === null) return null;
  const principal: Principal = { name, keys: [], groups: [], at: r.loc(key) };
  const def: PrincipalDef = { principal, at: r.loc(key), keys: [] };
  if (!map) return def;
  const f = r.fields(map, SPECS.principal);
  const keys = f.get("keys");
  if (keys) {
    for (const item of r.list(keys) ?? []) {
      const parsed = parseAuthorizedKey(item.value);
      if (!parsed.ok) {
        r.error(item.node, "bad-key", `the public key of \`${name}\` is refused: ${parsed.reason}`, "paste the one-line public key (`ssh-keygen -y -f KEY` prints it); ssh-ed25519 is preferred");
        continue;
      }
      const at = r.loc(item.node);
      const dup = def.keys.find((k) => k.key.blob === parsed.key.blob);
      if (dup) {
        r.error(item.node, "duplicate-public-key", `\`${name}\` lists the same public key (${parsed.key.fingerprint}) twice`, "list each key once");
        continue;
      }
      principal.keys.push(parsed.key);
      def.keys.push({ key: parsed.key, at });
    }
  }
  const gs = f.get("groups");
  if (gs) {
    for (const g of r.list(gs, "`groups`", { item: "a group name" }) ?? []) {
      if (principal.groups.includes(g.value)) {
        r.error(g.node, "duplicate-group", `\`${name}\` lists group \`${g.value}\` twice`, "list each group once");
        continue;
      }
      principal.groups.push(g.value);
      groups.push({ name: g.value, at: r.loc(g.node) });
    }
  }
  return def;
}

function readRule(r: Reader, node: YNode): RuleDef | null {
  const map = r.map(node, "a rule");
  if (!map) return null;
  const f = r.fields(map, SPECS.rule);
  const nameField = f.get("name");
  const name = nameField ? r.text(nameField, "the rule name") : null;
  const at = r.loc(nameField?.value ?? map);
  const def: RuleDef = { rule: { name: name ?? "", match: {}, effect: { type: "allow" }, at }, at, environments: [], from: [] };

  const desc = f.get("description");
  if (desc) {
    const s = r.text(desc);
    if (s !== null) def.rule.description = s;
  }
  const match = f.get("match");
  if (match) def.rule.match = readMatch(r, match, def);

  const effects = EFFECTS.filter((e) => f.has(e));
  if (effects.length === 0) {
    r.error(map, "rule-effect", `rule \`${name ?? "?"}\` has no effect`, "give it exactly one of `allow: true`, `deny: \"why\"` or `require: {approvals: 1, ...}`");
  } else if (effects.length > 1) {
    for (const e of effects.slice(1)) r.error(f.get(e)!.key, "rule-effect", `rule \`${name ?? "?"}\` has both \`${effects[0]}\` and \`${e}\``, "a rule has exactly one effect: split it into two rules");
  } else {
    const effect = readEffect(r, effects[0]!, f.get(effects[0]!)!, def);
    if (effect) def.rule.effect = effect;
  }
  return name === null ? null : def;
}

function readMatch(r: Reader, field: Field, def: RuleDef): RuleMatch {
  const match: RuleMatch = {};
  const map = r.mapping(field);
  if (!map) return match;
  const f = r.fields(map, SPECS.match);
  const envs = f.get("environments");
  if (envs) {
    const items = r.list(envs, "`environments`", { item: "an environment name" });
    if (items) {
      match.environments = items.map((i) => i.value);
      def.environments = items.map((i) => ({ name: i.value, at: r.loc(i.node) }));
    }
  }
  const commands = f.get("commands");
  if (commands) {
    const items = r.list(commands, "`commands`", { item: "a command glob", each: (s, n) => commandGlob(r, n, s) });
    if (items) match.commands = items.map((i) => i.value);
  }
  const args = f.get("args");
  if (args) {
    const items = r.list(args, "`args`", { item: "an argument glob", each: (s, n) => checkGlob(r, n, s, "an argument glob") });
    if (items) match.args = items.map((i) => i.value);
  }
  return match;
}

/** A glob that cannot be compiled (a reversed range `[e-a]`) is an error here, not a crash of every run. */
function checkGlob(r: Reader, node: YNode, s: string | null, what: string): string | null {
  if (s === null) return null;
  const problem = globProblem(s);
  if (problem === null) return s;
  r.error(node, "bad-glob", `${what} ${JSON.stringify(s)} is not a valid glob: ${problem}`, "write a range low to high (`[a-e]`, not `[e-a]`), or escape the `[` (`\\[`) to match it literally");
  return null;
}

/** Command globs with a '/' match the program's path relative to the policy root, so they must be relative and normal. */
function commandGlob(r: Reader, node: YNode, glob: string): string | null {
  const s = checkGlob(r, node, glob, "a command glob");
  if (s === null || !s.includes("/")) return s;
  const problem = s.startsWith("/")
    ? "is absolute"
    : s.startsWith("./")
      ? "starts with `./`"
      : s.split("/").some((seg) => seg === ".." || seg === ".")
        ? "has a `.` or `..` segment"
        : s.includes("//")
          ? "has an empty segment (`//`)"
          : null;
  if (!problem) return s;
  r.error(node, "bad-command-glob", `command glob ${JSON.stringify(s)} ${problem}, so it can never match`, "a glob with a '/' is matched against the program's path relative to the policy root (the directory holding the policy directory), e.g. `maintenance/purge-*.sh`");
  return null;
}

function readEffect(r: Reader, kind: (typeof EFFECTS)[number], field: Field, def: RuleDef): RuleEffect | null {
  if (kind === "allow") {
    const v = r.flag(field);
    if (v === false) r.error(field.value, "allow-false", "`allow: false` is not a rule effect", "write `allow: true` to allow, or `deny: \"why\"` to refuse");
    return v === true ? { type: "allow" } : null;
  }
  if (kind === "deny") {
    const message = r.text(field);
    if (message === null) {
      r.sink.error(r.pos(field.value), "deny-message", "`deny` takes the message shown to the person refused", 'e.g. `deny: "terraform destroy against production runs only from the release pipeline"`');
      return null;
    }
    return { type: "deny", message };
  }
  const map = r.mapping(field);
  if (!map) return null;
  const f = r.fields(map, SPECS.require);
  const ok: { approvals?: number; ttl?: number } = {};
  const approvals = f.get("approvals");
  if (approvals) {
    const n = r.count(approvals);
    if (n !== null) ok.approvals = n;
    def.approvalsAt = r.loc(approvals.value);
  }
  const from = f.get("from");
  if (from) {
    const items = r.list(from, "`from`", { item: "a group name" });
    if (items) def.from = items.map((i) => ({ name: i.value, at: r.loc(i.node) }));
  }
  const reasonF = f.get("reason");
  const reason = reasonF ? r.flag(reasonF) : false;
  const confirmF = f.get("confirm");
  const confirm = confirmF ? r.flag(confirmF) : false;
  const ttlF = f.get("ttl");
  const ttl = ttlF ? readDuration(r, ttlF, MIN_TTL_SECONDS, MAX_TTL_SECONDS) : DEFAULT_TTL_SECONDS;
  const previewF = f.get("preview");
  const preview = previewF ? readPreview(r, previewF) : undefined;
  if (ok.approvals === undefined || reason === null || confirm === null || ttl === null || preview === null) return null;
  return { type: "require", approvals: ok.approvals, from: from ? def.from.map((g) => g.name) : null, reason, confirm, ttlSeconds: ttl, ...(preview ? { preview } : {}) };
}

/** `require.preview`: the dry run shown to approvers (issue 14). */
function readPreview(r: Reader, field: Field): PreviewSpec | null {
  const map = r.mapping(field);
  if (!map) return null;
  const f = r.fields(map, SPECS.preview);
  const commandF = f.get("command");
  if (!commandF) return null;
  const items = r.list(commandF);
  const recheckF = f.get("recheck");
  const recheck = recheckF ? r.flag(recheckF) : false;
  const timeoutF = f.get("timeout");
  const timeout = timeoutF ? readDuration(r, timeoutF, PREVIEW_MIN_TIMEOUT_SECONDS, PREVIEW_MAX_TIMEOUT_SECONDS) : PREVIEW_DEFAULT_TIMEOUT_SECONDS;
  if (!items || items.length === 0 || recheck === null || timeout === null) return null;
  return { command: items.map((i) => i.value), recheck, timeoutSeconds: timeout };
}

function readFreeze(r: Reader, node: YNode): FreezeDef | null {
  const map = r.map(node, "a freeze");
  if (!map) return null;
  const f = r.fields(map, SPECS.freeze);
  const nameF = f.get("name");
  const name = nameF ? r.text(nameF, "the freeze name") : null;
  const at = r.loc(nameF?.value ?? map);
  const envF = f.get("environments");
  const envs = envF ? r.list(envF, "`environments`", { item: "an environment name" }) : null;
  const fromF = f.get("from");
  const untilF = f.get("until");
  const from = fromF ? readTimestamp(r, fromF) : null;
  const until = untilF ? readTimestamp(r, untilF) : null;
  if (from !== null && until !== null && from >= until) r.error(untilF!.value, "freeze-range", "a freeze must end after it starts (`until` is not after `from`)", "check the two dates");
  const reasonF = f.get("reason");
  const reason = reasonF ? r.text(reasonF) : null;
  if (name === null) return null;
  return {
    freeze: { name, environments: envs?.map((e) => e.value) ?? [], from: from ?? 0, until: until ?? 0, reason: reason ?? "", at },
    at,
    environments: envs?.map((e) => ({ name: e.value, at: r.loc(e.node) })) ?? [],
  };
}

function readBreakGlass(r: Reader, field: Field): FileFragment["breakGlass"] | null {
  const map = r.mapping(field);
  if (!map) return null;
  const f = r.fields(map, SPECS.breakGlass);
  const envF = f.get("environments");
  const envs = envF ? r.list(envF, "`environments`", { item: "an environment name" }) : null;
  const groupF = f.get("groups");
  const groups = groupF ? r.list(groupF, "`groups`", { item: "a group name" }) : null;
  if (!envs || !groups) return null;
  return {
    value: { environments: envs.map((e) => e.value), groups: groups.map((g) => g.value) },
    at: r.loc(field.key),
    environments: envs.map((e) => ({ name: e.value, at: r.loc(e.node) })),
    groups: groups.map((g) => ({ name: g.value, at: r.loc(g.node) })),
  };
}

/** A `bind_env` entry the schema's pattern accepts, but which would bind every variable. */
function bindEnvEntry(r: Reader, node: YNode, s: string): string | null {
  if (/^\*+$/.test(s)) {
    r.error(node, "bad-bind-env", "`bind_env: *` would bind every variable (PWD, SHLVL, ...), so no approval would ever match", "list the variables that matter, e.g. `VAULT_*`");
    return null;
  }
  return s;
}
