import { RE2JS } from "re2js";
import { re2Compiler } from "../../src/core/linear-regex.js";
import type { Detection, DetectionInput, Environment, Policy, Principal, ResolvedProgram, Rule, RuleEffect } from "../../src/core/types.js";

/**
 * A realistic validated Policy built in code (the YAML loader is tested elsewhere): production protected
 * with aliases and every kind of detector, staging, an unprotected development that is the default.
 */

export const ROOT = "/srv/ops";

const key = (n: number): Principal["keys"][number] => ({
  type: "ssh-ed25519",
  blob: `AAAAC3NzaC1lZDI1NTE5AAAAI${String(n).padStart(43, "A")}`,
  fingerprint: `SHA256:fixture${n}`,
});

export function environments(): Record<string, Environment> {
  return {
    production: {
      name: "production",
      protected: true,
      aliases: ["prod", "prd", "live"],
      detect: [
        { type: "env", variable: "DATABASE_URL", matcher: { kind: "glob", pattern: "*prod-db.*" } },
        { type: "env", variable: "PGHOST", matcher: { kind: "glob", pattern: "prod-db*" } },
        { type: "env", variable: "AWS_PROFILE", matcher: { kind: "equals", value: "prod" } },
        { type: "env", variable: "AWS_DEFAULT_PROFILE", matcher: { kind: "equals", value: "prod" } },
        { type: "env", variable: "VAULT_ADDR", matcher: { kind: "regex", pattern: "^https://vault\\.prod\\." } },
        { type: "kube_context", pattern: "prod-*" },
        { type: "host", pattern: "db1.*" },
        { type: "arg", flag: "--env" },
        { type: "arg", flag: "-e" },
        { type: "arg", flag: "--profile", matcher: { kind: "equals", value: "prod" } },
        { type: "argument", pattern: "*host=prod-db*" },
      ],
    },
    staging: {
      name: "staging",
      protected: true,
      aliases: ["stg"],
      detect: [
        { type: "env", variable: "DATABASE_URL", matcher: { kind: "glob", pattern: "*staging-db.*" } },
        { type: "env", variable: "PGHOST", matcher: { kind: "glob", pattern: "staging-db*" } },
        { type: "env", variable: "AWS_PROFILE", matcher: { kind: "equals", value: "staging" } },
        { type: "kube_context", pattern: "staging*" },
        { type: "arg", flag: "--env" },
        { type: "arg", flag: "--profile", matcher: { kind: "equals", value: "staging" } },
        { type: "argument", pattern: "*host=staging-db*" },
      ],
    },
    development: {
      name: "development",
      protected: false,
      aliases: ["dev"],
      detect: [
        { type: "env", variable: "DATABASE_URL", matcher: { kind: "glob", pattern: "*localhost*" } },
        { type: "kube_context", pattern: "kind-*" },
      ],
    },
  };
}

export const requireEffect = (over: Partial<Extract<RuleEffect, { type: "require" }>> = {}): RuleEffect => ({
  type: "require",
  approvals: 1,
  from: ["sre"],
  reason: true,
  confirm: true,
  ttlSeconds: 1800,
  ...over,
});

export function rules(): Rule[] {
  return [
    {
      name: "purge-needs-an-sre",
      match: { environments: ["production"], commands: ["scripts/purge-*.sh"], args: ["--all"] },
      effect: requireEffect(),
    },
    {
      name: "purge-needs-a-dba-too",
      match: { environments: ["production"], commands: ["scripts/purge-*.sh"] },
      effect: requireEffect({ from: ["dba"], confirm: false, ttlSeconds: 3600 }),
    },
    { name: "reports-are-read-only", match: { environments: ["production"], commands: ["scripts/report-*.sh"] }, effect: { type: "allow" } },
    {
      name: "never-destroy-prod-by-hand",
      match: { environments: ["production"], commands: ["terraform"], args: ["destroy"] },
      effect: { type: "deny", message: "terraform destroy against production runs only from the release pipeline" },
    },
    { name: "terraform-plan", match: { environments: ["production", "staging"], commands: ["terraform"], args: ["plan"] }, effect: { type: "allow" } },
    { name: "psql-in-staging", match: { environments: ["staging"], commands: ["psql"] }, effect: { type: "allow" } },
  ];
}

export function fixturePolicy(over: Partial<Policy> = {}): Policy {
  return {
    version: 1,
    environments: environments(),
    defaultEnvironment: "development",
    principals: {
      alice: { name: "alice", keys: [key(1)], groups: ["sre"] },
      bob: { name: "bob", keys: [key(2)], groups: ["sre", "dba"] },
      carol: { name: "carol", keys: [key(3)], groups: ["dba"] },
    },
    rules: rules(),
    freezes: [
      {
        name: "year-end",
        environments: ["production"],
        from: Date.parse("2026-12-23T00:00:00Z"),
        until: Date.parse("2027-01-02T00:00:00Z"),
        reason: "Year-end change freeze",
      },
    ],
    breakGlass: { environments: ["production"], groups: ["sre"] },
    bindEnv: [],
    root: ROOT,
    digest: "0".repeat(64),
    ...over,
  };
}

/** A program under the policy root, e.g. programAt("scripts/purge-lb.sh"). */
export function programAt(relative: string, given = `./${relative}`): ResolvedProgram {
  const base = relative.split("/").at(-1) as string;
  return { given, path: `${ROOT}/${relative}`, relativeToRoot: relative, base, givenBase: given.split("/").at(-1) as string };
}

/** A program outside the root, e.g. onPath("/usr/bin/terraform"). */
export function onPath(path: string, given?: string): ResolvedProgram {
  const base = path.split("/").at(-1) as string;
  const typed = given ?? base;
  return { given: typed, path, relativeToRoot: null, base, givenBase: typed.split("/").at(-1) as string };
}

/** The RE2 engine, as the adapter gives it to a policy with detector regexes. */
export const RE2 = re2Compiler(RE2JS);

export function input(over: Partial<DetectionInput> = {}): DetectionInput {
  return { args: [], env: {}, host: "laptop.local", kubeconfigs: [], regex: RE2, ...over };
}

export function determined(environment: string): Detection {
  return {
    environment,
    evidence: [{ source: "declared", subject: "--env", value: environment, environment, detail: "fixture" }],
    problems: [],
  };
}

export const NOW = Date.parse("2026-06-01T12:00:00Z");
