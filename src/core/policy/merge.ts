import type { Diagnostic } from "../errors.js";
import type { Environment, Policy, Principal, SourceLocation } from "../types.js";
import { diagnosticAt } from "./diagnostics.js";
import { policyDigest } from "./digest.js";
import type { FileFragment, Ref, RuleDef } from "./read-policy-file.js";
import { closest } from "./suggest.js";

export interface Merged {
  policy: Policy;
  diagnostics: Diagnostic[];
  /** Located rule definitions in policy order, for lint. */
  rules: RuleDef[];
}

const where = (at: SourceLocation): string => `${at.file}:${at.line}:${at.col}`;

/**
 * Merge the fragments of every policy file (in the order given) into one policy, and check everything that
 * spans files: names defined twice, references to undefined environments and groups, alias collisions,
 * approval thresholds no one could meet, and public keys shared between principals.
 */
export function mergeFragments(frags: readonly FileFragment[], root: string, opts: { allFilesRead: boolean } = { allFilesRead: true }): Merged {
  const out: Diagnostic[] = [];
  const error = (at: SourceLocation, code: string, message: string, hint?: string): void => void out.push(diagnosticAt("error", at, code, message, hint));
  const twice = (what: string, name: string, first: SourceLocation, second: SourceLocation): void => {
    const hint = "names must be unique across all files of the policy directory: rename or delete one";
    error(first, "duplicate-definition", `${what} \`${name}\` is defined twice (also at ${where(second)})`, hint);
    error(second, "duplicate-definition", `${what} \`${name}\` is defined twice (also at ${where(first)})`, hint);
  };

  const environments: Record<string, Environment> = Object.create(null);
  const envAt = new Map<string, SourceLocation>();
  const principals: Record<string, Principal> = Object.create(null);
  const principalAt = new Map<string, SourceLocation>();
  const rules: RuleDef[] = [];
  const ruleAt = new Map<string, SourceLocation>();
  const freezeAt = new Map<string, SourceLocation>();
  const webhookAt = new Map<string, SourceLocation>();

  for (const frag of frags) {
    for (const def of frag.environments) {
      const seen = envAt.get(def.env.name);
      if (seen) twice("environment", def.env.name, seen, def.at);
      else {
        envAt.set(def.env.name, def.at);
        environments[def.env.name] = def.env;
      }
    }
    for (const def of frag.principals) {
      const seen = principalAt.get(def.principal.name);
      if (seen) twice("principal", def.principal.name, seen, def.at);
      else {
        principalAt.set(def.principal.name, def.at);
        principals[def.principal.name] = def.principal;
      }
    }
    for (const def of frag.rules) {
      const seen = ruleAt.get(def.rule.name);
      if (seen) twice("rule", def.rule.name, seen, def.at);
      else ruleAt.set(def.rule.name, def.at);
      rules.push(def);
    }
    for (const def of frag.freezes) {
      const seen = freezeAt.get(def.freeze.name);
      if (seen) twice("freeze", def.freeze.name, seen, def.at);
      else freezeAt.set(def.freeze.name, def.at);
    }
    for (const def of frag.webhooks) {
      const seen = webhookAt.get(def.webhook.name);
      if (seen) twice("webhook", def.webhook.name, seen, def.at);
      else webhookAt.set(def.webhook.name, def.at);
    }
  }

  const single = <T extends { at: SourceLocation }>(what: string, pick: (f: FileFragment) => T | undefined): T | undefined => {
    const found = frags.map(pick).filter((x): x is T => x !== undefined);
    for (const extra of found.slice(1)) {
      const hint = `keep one \`${what}\` in the whole policy directory`;
      error(found[0]!.at, "duplicate-definition", `\`${what}\` is defined in more than one file (also at ${where(extra.at)})`, hint);
      error(extra.at, "duplicate-definition", `\`${what}\` is defined in more than one file (also at ${where(found[0]!.at)})`, hint);
    }
    return found[0];
  };
  const dflt = single("default_environment", (f) => f.defaultEnvironment);
  const breakGlass = single("break_glass", (f) => f.breakGlass);
  const bindEnv = single("bind_env", (f) => f.bindEnv);

  // When a file could not be read at all, its environments and rules are unknown: saying "no rules" would mislead.
  const firstFile: SourceLocation = { file: frags[0]?.file ?? "(policy)", line: 1, col: 1 };
  if (opts.allFilesRead && frags.reduce((n, f) => n + f.environmentCount, 0) === 0) {
    error(firstFile, "no-environments", "the policy defines no environments", "add `environments:` with at least the protected ones (an empty policy never means allow-all)");
  }
  if (opts.allFilesRead && frags.reduce((n, f) => n + f.ruleCount, 0) === 0) {
    error(firstFile, "no-rules", "the policy defines no rules", "add `rules:`; without rules every run in a protected environment is denied, which is rarely what is meant");
  }

  // Names and aliases share one namespace: `--env prod` must mean exactly one environment.
  const aliasOwner = new Map<string, { env: string; at: SourceLocation }>();
  for (const frag of frags) {
    for (const def of frag.environments) {
      for (const alias of def.aliases) {
        if (alias.name in environments) {
          error(alias.at, "alias-collision", `alias \`${alias.name}\` of \`${def.env.name}\` is also the name of an environment`, "remove the alias or rename the environment: a name must select exactly one environment");
          continue;
        }
        const prev = aliasOwner.get(alias.name);
        if (prev) {
          const hint = "an alias must select exactly one environment: remove one of them";
          error(prev.at, "alias-collision", `alias \`${alias.name}\` is used by \`${prev.env}\` and \`${def.env.name}\``, hint);
          error(alias.at, "alias-collision", `alias \`${alias.name}\` is used by \`${prev.env}\` and \`${def.env.name}\``, hint);
          continue;
        }
        aliasOwner.set(alias.name, { env: def.env.name, at: alias.at });
      }
    }
  }

  const groups = new Set(Object.values(principals).flatMap((p) => p.groups));
  const envNames = Object.keys(environments);
  const checkEnv = (ref: Ref): void => {
    if (ref.name in environments) return;
    const alias = aliasOwner.get(ref.name);
    if (alias) {
      error(ref.at, "alias-not-name", `\`${ref.name}\` is an alias; name the environment itself`, `write \`${alias.env}\``);
      return;
    }
    const near = closest(ref.name, envNames);
    error(ref.at, "undefined-environment", `environment \`${ref.name}\` is not defined`, near ? `did you mean \`${near}\`?` : `defined environments: ${envNames.join(", ") || "none"}`);
  };
  const checkGroup = (ref: Ref): void => {
    if (groups.has(ref.name)) return;
    const near = closest(ref.name, [...groups]);
    error(ref.at, "undefined-group", `group \`${ref.name}\` has no members (no principal lists it in \`groups\`)`, near ? `did you mean \`${near}\`?` : `groups in use: ${[...groups].join(", ") || "none"}`);
  };

  for (const def of rules) {
    def.environments.forEach(checkEnv);
    def.from.forEach(checkGroup);
    const effect = def.rule.effect;
    if (effect.type === "require" && def.approvalsAt) {
      const eligible = eligiblePrincipals(principals, effect.from);
      if (effect.approvals > eligible.length) {
        const who = effect.from ? `in ${effect.from.map((g) => `\`${g}\``).join(", ")}` : "in the policy";
        error(def.approvalsAt, "approvals-unreachable", `rule \`${def.rule.name}\` needs ${effect.approvals} approvals but only ${eligible.length} principals are ${who}`, "lower `approvals` or add principals to the groups in `from`: a threshold no one can meet blocks every run");
      }
    }
  }
  for (const frag of frags) for (const def of frag.freezes) def.environments.forEach(checkEnv);
  for (const frag of frags) for (const def of frag.webhooks) def.environments.forEach(checkEnv);
  if (dflt) checkEnv(dflt);
  if (breakGlass) {
    breakGlass.environments.forEach(checkEnv);
    breakGlass.groups.forEach(checkGroup);
  }

  // One key, one person: otherwise one person could count as two approvers (P13).
  const keyOwner = new Map<string, { principal: string; at: SourceLocation }>();
  for (const frag of frags) {
    for (const def of frag.principals) {
      for (const { key, at } of def.keys) {
        const prev = keyOwner.get(key.blob);
        if (!prev) {
          keyOwner.set(key.blob, { principal: def.principal.name, at });
          continue;
        }
        if (prev.principal === def.principal.name) continue;
        const message = `the same public key (${key.fingerprint}) is listed under \`${prev.principal}\` and \`${def.principal.name}\``;
        const hint = "a key identifies exactly one person: remove it from one of them";
        error(prev.at, "shared-public-key", message, hint);
        error(at, "shared-public-key", message, hint);
      }
    }
  }

  const webhooks = frags.flatMap((f) => f.webhooks.map((d) => d.webhook));
  const policy: Policy = {
    version: 1,
    environments,
    ...(dflt ? { defaultEnvironment: dflt.name } : {}),
    principals,
    rules: rules.map((d) => d.rule),
    freezes: frags.flatMap((f) => f.freezes.map((d) => d.freeze)),
    ...(breakGlass ? { breakGlass: breakGlass.value } : {}),
    bindEnv: bindEnv?.value ?? [],
    ...(webhooks.length ? { notifications: { webhooks } } : {}),
    root,
    digest: "",
  };
  policy.digest = policyDigest(policy);
  return { policy, diagnostics: out, rules };
}

/** Principals who may approve for a `require` (any of the groups; null = everyone), by name. */
export function eligiblePrincipals(principals: Record<string, Principal>, from: readonly string[] | null): string[] {
  return Object.values(principals)
    .filter((p) => from === null || p.groups.some((g) => from.includes(g)))
    .map((p) => p.name);
}
