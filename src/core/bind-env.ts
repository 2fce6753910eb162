import { sha256Hex } from "./canonical.js";
import type { BoundVariable, Policy } from "./types.js";

/**
 * The environment variables an approval binds (C11, E12). A run whose bound variables differ from the
 * approved ones is a different run: `NODE_OPTIONS=--require evil.js`, a new `LD_PRELOAD`, another
 * `DATABASE_URL` or a direnv-switched `AWS_PROFILE` all change what the command really does or hits.
 */

/** Bound even when unset, so the approver sees "unset" and a later value is a visible difference. */
const FIXED_NAMES = [
  "PATH", "NODE_OPTIONS", "NODE_PATH", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS",
  "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB",
  "GEM_PATH", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGOPTIONS", "PGSERVICE",
  "PGSERVICEFILE", "PGPASSFILE", "DATABASE_URL", "KUBECONFIG", "GOOGLE_APPLICATION_CREDENTIALS",
];

/** Bound only for the variables that are present (an added one at run time is still a difference). */
const FIXED_GLOBS = ["LD_*", "DYLD_*", "PG*", "AWS_*", "CLOUDSDK_*", "AZURE_*", "ARM_*", "TF_*", "VAULT_*"];

const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE/i;
const SECRET_NAMES = new Set(["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]);

const isGlob = (pattern: string): boolean => /[*?]/.test(pattern);

/** `*` any run of characters, `?` one character, everything else literal; names are case-sensitive. */
export function envGlobMatches(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`, "s").test(name);
}

export function boundEnvironment(
  policy: Pick<Policy, "bindEnv">,
  env: Readonly<Record<string, string | undefined>>,
  detectorVariables: readonly string[],
): Record<string, BoundVariable> {
  const names = new Set<string>([...FIXED_NAMES, ...detectorVariables]);
  const globs = [...FIXED_GLOBS];
  for (const entry of policy.bindEnv) {
    if (isGlob(entry)) globs.push(entry);
    else names.add(entry);
  }
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && globs.some((g) => envGlobMatches(g, name))) names.add(name);
  }
  const out: Record<string, BoundVariable> = {};
  for (const name of [...names].sort()) out[name] = bindVariable(name, env[name]);
  return out;
}

export function bindVariable(name: string, value: string | undefined): BoundVariable {
  if (value === undefined) return { sha256: null, shown: null };
  const sha256 = sha256Hex(value);
  return { sha256, shown: isSecretName(name) ? `(secret, sha256 ${sha256.slice(0, 8)}…)` : redactValue(value) };
}

export function isSecretName(name: string): boolean {
  return SECRET_NAMES.has(name) || SECRET_NAME.test(name);
}

/**
 * A value with embedded passwords masked: URL userinfo (`postgres://u:pw@h`), and `password=…`-style
 * keywords in libpq connection strings and URL queries. The masked value still differs from another
 * masked value only where the visible parts differ; the sha256 carries the rest.
 */
export function redactValue(value: string): string {
  return value
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^/\s]*@/gi, "$1***@")
    .replace(/\b((?:ssl)?password|passwd|pwd|secret|token)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s;]*)/gi, "$1$2***");
}
