/**
 * Shared pieces for the policy tests: real ed25519 public keys (the example policy's), a small valid
 * policy to mutate, and shorthands over parsePolicyFiles.
 */
import type { Diagnostic } from "../../src/core/errors.js";
import { parsePolicyFiles } from "../../src/core/policy/parse.js";
import { RE2 } from "../core/policy-fixture.js";
import type { ParsedPolicy } from "../../src/core/policy/types.js";

export const KEYS = {
  alice: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILGNo733/rxQ+j7wTsRrxGykoPPjVvgeIhEIWZe1duEe alice@example.com",
  bob: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkENBJo5FFt7HVLFKJGXw/+Gx/UIX3F1FJAM6Ej6pcT bob@example.com",
  carol: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIF/6fJ0t+/ZS+Ck6Vv6Rl7iTboCLFLgzzSecYM4HmuW carol@example.com",
  dave: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINQRUNSvdzfVncBzsiZkhJ2DeHUE3l3SRc01wiSyEsmu dave@example.com",
} as const;

export const ROOT = "/srv/repo";

/** Environments and principals that the rule snippets below can refer to (no rules). */
export const ENVS_AND_PRINCIPALS = `version: 1
environments:
  production:
    protected: true
    aliases: [prod]
    detect:
      - env: DATABASE_URL
        matches: "*prod-db.*"
  staging:
    aliases: [stg]
    detect:
      - env: DATABASE_URL
        matches: "*staging-db.*"
principals:
  alice:
    keys: ["${KEYS.alice}"]
    groups: [sre]
  bob:
    keys: ["${KEYS.bob}"]
    groups: [sre, dba]
  carol:
    keys: ["${KEYS.carol}"]
    groups: [dba]
`;

/** A rules file with one rule; `body` is the rule's YAML after `- name: r1`, indented by four spaces. */
export function rulesFile(body: string): string {
  return `version: 1
rules:
  - name: r1
${body}`;
}

/** A complete valid policy in one file: the rule starts on line 25, `approvals` is on line 30 (column 18). */
export const VALID = `${ENVS_AND_PRINCIPALS}rules:
  - name: purge-needs-an-sre
    match:
      environments: [production]
      commands: ["maintenance/purge-*.sh"]
    require:
      approvals: 1
      from: [sre]
      reason: true
      ttl: 30m
`;

const enc = new TextEncoder();

/** Parse named file contents (strings are UTF-8 encoded) as a policy directory. */
export function parse(files: Record<string, string | Uint8Array>, root = ROOT): ParsedPolicy {
  return parsePolicyFiles(
    Object.entries(files).map(([path, content]) => ({ path, bytes: typeof content === "string" ? enc.encode(content) : content })),
    root,
    { regex: RE2 },
  );
}

/** Parse one policy file. */
export const parseOne = (text: string | Uint8Array, path = "policies/guard.yaml"): ParsedPolicy => parse({ [path]: text });

export const errors = (r: ParsedPolicy): Diagnostic[] => r.diagnostics.filter((d) => d.severity === "error");
export const warnings = (r: ParsedPolicy): Diagnostic[] => r.diagnostics.filter((d) => d.severity === "warning");
export const codes = (ds: readonly Diagnostic[]): string[] => ds.map((d) => d.code);
/** "code@line:col" for compact assertions. */
export const located = (ds: readonly Diagnostic[]): string[] => ds.map((d) => `${d.code}@${d.line}:${d.col}`);
