/**
 * `credentials:` of an environment: what guard mints for each permitted run there, gives to that child
 * alone and revokes after it. Read as strictly as every other field: a credential source that silently
 * meant something else would hand production access to the wrong process.
 */
import type { Credentials, SecretSource } from "../types.js";
import { isSeq } from "yaml";
import { CREDENTIAL_PROVIDERS, ENV_VAR_RE, PG_ROLE_RE, SPECS } from "./fields.js";
import type { Field, Reader, YNode } from "./reader.js";
import { readDuration } from "./read-values.js";

/** VALID UNTIL of a per-run PostgreSQL role when `ttl` is not given, and its bounds. */
export const DEFAULT_CREDENTIAL_TTL_SECONDS = 15 * 60;
export const MIN_CREDENTIAL_TTL_SECONDS = 60;
export const MAX_CREDENTIAL_TTL_SECONDS = 86_400;
/** How long a `command` provider's run (and revoke) command may take. */
export const DEFAULT_MINT_TIMEOUT_SECONDS = 30;
export const MIN_MINT_TIMEOUT_SECONDS = 1;
export const MAX_MINT_TIMEOUT_SECONDS = 300;

export function readCredentials(r: Reader, field: Field): Credentials | null {
  const map = r.mapping(field);
  if (!map) return null;
  const f = r.fields(map, SPECS.credentials);
  const providers = CREDENTIAL_PROVIDERS.filter((p) => f.has(p));
  if (providers.length === 0) {
    r.error(map, "credentials-provider", "`credentials` needs one of `postgres` or `command`", "e.g. `postgres: { admin: \"env:GUARD_PG_ADMIN_URL\", grant: [maintainer], export: DATABASE_URL }`");
    return null;
  }
  if (providers.length > 1) {
    r.error(f.get(providers[1]!)!.key, "credentials-provider", "`credentials` has both `postgres` and `command`; an environment has one provider", "keep one of them");
    return null;
  }
  return providers[0] === "postgres" ? readPostgres(r, f.get("postgres")!) : readCommand(r, f.get("command")!);
}

function readPostgres(r: Reader, field: Field): Credentials | null {
  const map = r.mapping(field, "`credentials.postgres`");
  if (!map) return null;
  const f = r.fields(map, SPECS.credentialsPostgres);
  const adminF = f.get("admin");
  const admin = adminF ? readSecretSource(r, adminF) : null;
  const grantF = f.get("grant");
  let grant: string[] | null = null;
  if (grantF) {
    const items = r.list(grantF, "`grant`", { item: "a role in `grant`", each: (s, n) => pgRole(r, n, s) });
    if (items && isSeq(grantF.value) && items.length === grantF.value.items.length) {
      grant = [];
      for (const i of items) {
        if (grant.includes(i.value)) {
          r.error(i.node, "duplicate-grant", `role \`${i.value}\` is listed twice in \`grant\``, "list each role once");
          grant = null;
          break;
        }
        grant.push(i.value);
      }
    }
  }
  const exportF = f.get("export");
  const exported = exportF ? r.text(exportF) : null;
  const ttlF = f.get("ttl");
  const ttl = ttlF ? readDuration(r, ttlF, MIN_CREDENTIAL_TTL_SECONDS, MAX_CREDENTIAL_TTL_SECONDS) : DEFAULT_CREDENTIAL_TTL_SECONDS;
  if (admin && admin.kind === "env" && exported === admin.name) {
    r.error(exportF!.value, "export-is-admin", `\`export\` names the admin variable ${admin.name}: the child would receive guard's own credentials`, "export the per-run URL under another name, e.g. DATABASE_URL");
    return null;
  }
  if (!admin || !grant || exported === null || ttl === null) return null;
  return { type: "postgres", admin, grant, export: exported, ttlSeconds: ttl };
}

function readCommand(r: Reader, field: Field): Credentials | null {
  const map = r.mapping(field, "`credentials.command`");
  if (!map) return null;
  const f = r.fields(map, SPECS.credentialsCommand);
  const runF = f.get("run");
  const run = runF ? commandArgv(r, runF) : null;
  const revokeF = f.get("revoke");
  const revoke = revokeF ? commandArgv(r, revokeF) : null;
  const timeoutF = f.get("timeout");
  const timeout = timeoutF ? readDuration(r, timeoutF, MIN_MINT_TIMEOUT_SECONDS, MAX_MINT_TIMEOUT_SECONDS) : DEFAULT_MINT_TIMEOUT_SECONDS;
  if (!run || (revokeF && !revoke) || timeout === null) return null;
  return { type: "command", run, revoke, timeoutSeconds: timeout };
}

/** `env:NAME` or `file:/absolute/path`. */
function readSecretSource(r: Reader, field: Field): SecretSource | null {
  const s = r.text(field);
  if (s === null) return null;
  const node = field.value;
  if (s.startsWith("env:") && ENV_VAR_RE.test(s.slice(4))) return { kind: "env", name: s.slice(4) };
  if (s.startsWith("file:/") && !s.slice(5).split("/").some((seg) => seg === ".." || seg === ".") && !s.includes("\0")) return { kind: "file", path: s.slice(5) };
  r.error(node, "bad-secret-source", `\`admin\` ${JSON.stringify(s)} is neither \`env:NAME\` nor \`file:/absolute/path\``, "e.g. `env:GUARD_PG_ADMIN_URL` or `file:/etc/access-guard/pg-admin.url` (never the URL itself: a policy is not a secret)");
  return null;
}

/** A program and its arguments, the program an absolute path: a relative one would be found in the requester's directory. */
function commandArgv(r: Reader, field: Field): string[] | null {
  const what = `\`${field.key.value}\``;
  const items = r.list(field);
  if (!items || !isSeq(field.value) || items.length !== field.value.items.length) return null;
  const program = items[0]!;
  if (!program.value.startsWith("/")) {
    r.error(program.node, "relative-command", `the program of ${what} must be an absolute path, not ${JSON.stringify(program.value)}`, "a relative path or bare name would be looked up in the requester's directory or PATH; write e.g. /usr/local/bin/mint-token");
    return null;
  }
  return items.map((i) => i.value);
}

/** A role guard grants: the schema's pattern, and none of PostgreSQL's own or another run's roles. */
function pgRole(r: Reader, node: YNode, s: string): string | null {
  if (!PG_ROLE_RE.test(s) || /^(pg_|guard_run_)/i.test(s) || ["public", "current_user", "session_user", "current_role", "none"].includes(s.toLowerCase())) {
    r.error(node, "bad-role", `${JSON.stringify(s)} is not a role guard grants`, "name an ordinary PostgreSQL role of letters, digits and `_` (not a pg_ built-in role, PUBLIC or another run's role), e.g. elb_maintainer");
    return null;
  }
  return s;
}
