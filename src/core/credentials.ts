/**
 * Per-run credentials (issue 15), the pure part: names, the strict reading of a mint command's output,
 * and what the audit log may say about what was issued (never a secret).
 */
import type { Policy } from "./types.js";
import { ENV_VAR_RE } from "./policy/fields.js";
import { parseIsoTimestamp } from "./policy/timestamp.js";

/** Every per-run PostgreSQL role's name starts with this; the sweep drops only such roles. */
export const PG_ROLE_PREFIX = "guard_run_";

/** The per-run role of run `run-<hex>`: `guard_run_<hex>` (lowercase, no quoting surprises, < 63 bytes). */
export function pgRoleName(runId: string): string {
  const m = /^run-([0-9a-f]{16,40})$/.exec(runId);
  if (!m) throw new Error(`not a run id: ${runId}`);
  return `${PG_ROLE_PREFIX}${m[1]}`;
}

export const PG_ROLE_NAME_RE = /^guard_run_[0-9a-f]{16,40}$/;

/**
 * The variables of guard's environment that hold its own credential sources (`admin: env:NAME`): never
 * bound into a request (not even by digest) and never passed to any child.
 */
export function adminVariables(policy: Pick<Policy, "environments">): string[] {
  const out = new Set<string>();
  for (const env of Object.values(policy.environments)) {
    const c = env.credentials;
    if (c?.type === "postgres" && c.admin.kind === "env") out.add(c.admin.name);
  }
  return [...out].sort();
}

/** The most a mint command may print: credentials are small; anything larger is a mistake. */
export const MAX_MINT_OUTPUT = 64 * 1024;

export type MintOutput = { ok: true; env: Record<string, string>; expires: string; expiresMs: number } | { ok: false; reason: string };

/**
 * A mint command's stdout: exactly `{"env": {NAME: "VALUE", …}, "expires": "ISO time"}`, nothing else.
 * Any doubt is a refusal; the reason never quotes a value (it may be a secret).
 */
export function parseMintOutput(stdout: string, now: number): MintOutput {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    return { ok: false, reason: "its output is not JSON" };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return { ok: false, reason: "its output is not a JSON object" };
  const extra = Object.keys(data).filter((k) => k !== "env" && k !== "expires");
  if (extra.length > 0) return { ok: false, reason: `its output has unknown fields (${extra.map((k) => JSON.stringify(k.slice(0, 40))).join(", ")}); only "env" and "expires" are read` };
  const { env, expires } = data as { env?: unknown; expires?: unknown };
  if (typeof env !== "object" || env === null || Array.isArray(env)) return { ok: false, reason: 'its output has no "env" object' };
  const names = Object.keys(env);
  if (names.length === 0) return { ok: false, reason: '"env" names no variable' };
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of names) {
    if (!ENV_VAR_RE.test(name)) return { ok: false, reason: `"env" has ${JSON.stringify(name.slice(0, 40))}, which is not a variable name` };
    const value = (env as Record<string, unknown>)[name];
    if (typeof value !== "string") return { ok: false, reason: `"env".${name} is not a string` };
    if (value.includes("\0")) return { ok: false, reason: `"env".${name} contains a NUL byte` };
    out[name] = value;
  }
  if (typeof expires !== "string") return { ok: false, reason: 'its output has no "expires" time' };
  const expiresMs = parseIsoTimestamp(expires);
  if (expiresMs === null) return { ok: false, reason: '"expires" is not an ISO 8601 time with a zone' };
  if (expiresMs <= now) return { ok: false, reason: `the credentials it minted expired already (${expires})` };
  return { ok: true, env: { ...out }, expires, expiresMs };
}
