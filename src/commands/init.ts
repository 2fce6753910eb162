/**
 * `guard init`: scaffold guard.config.yaml, a commented policy with the user's own key as its first
 * principal, a policy test that passes, and scripts/cleanup.sh (the README's next step runs it).
 * Idempotent: an existing file is never overwritten.
 *
 * The principal is named after the key's comment (`alice@laptop` → `alice`), else `--name`, else the
 * login name unless that is `root` (a shared account names nobody), else `me`; init says which.
 */
import { constants, promises as fsp } from "node:fs";
import { join } from "node:path";
import { configError, usageError } from "../core/errors.js";
import { parseAuthorizedKey } from "../core/sshkey.js";
import { colours, say, useTerminal } from "../adapters/output.js";
import { readClientFile } from "../adapters/client-file.js";
import type { Runtime } from "../runtime.js";

export async function initCommand(opts: { key?: string; name?: string }, rt: Runtime): Promise<void> {
  useTerminal(rt.terminal);
  const cwd = rt.cwd;
  const home = rt.env.HOME || rt.homedir();
  const key = await findPublicKey(opts.key ?? rt.env.GUARD_KEY, home);
  const named = principalName(opts.name, key.comment, () => rt.username());
  const files: Array<[string, string, number]> = [
    ["guard.config.yaml", CONFIG, 0o644],
    ["policies/guard.yaml", policyYaml(named.name, key.line), 0o644],
    ["policies/guard.test.yaml", TESTS, 0o644],
    ["scripts/cleanup.sh", CLEANUP, 0o755],
  ];
  await fsp.mkdir(join(cwd, "policies"), { recursive: true, mode: 0o755 });
  await fsp.mkdir(join(cwd, "scripts"), { recursive: true, mode: 0o755 });
  const c = colours();
  for (const [rel, content, mode] of files) {
    const created = await writeNew(join(cwd, rel), content, mode);
    say(created ? `${c.green("created")}  ${rel}` : `${c.dim("kept")}     ${rel} (already exists; not touched)`);
  }
  say("");
  say(`you are principal \`${named.name}\` (${named.from}) in group sre; rename it in policies/guard.yaml if you like`);
  say("a production run needs a second person: add a colleague's public key under `principals:` (`guard whoami` prints theirs)");
  say("");
  say("next: guard policy lint && guard policy test");
  say("      guard check -- ./scripts/cleanup.sh");
}

async function writeNew(path: string, content: string, mode: number): Promise<boolean> {
  try {
    const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

async function findPublicKey(setting: string | undefined, home: string): Promise<{ line: string; comment?: string }> {
  const candidates = setting ? [setting.endsWith(".pub") ? setting : `${setting}.pub`] : ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"].map((f) => join(home, ".ssh", f));
  for (const path of candidates) {
    const read = readClientFile(path, 64 * 1024); // a regular file only: a FIFO there must not hang guard
    if (!("bytes" in read)) continue;
    const text = read.bytes.toString("utf8").trim();
    const parsed = parseAuthorizedKey(text);
    if (!parsed.ok) throw configError(`${path}: ${parsed.reason}`, "make an ed25519 key: ssh-keygen -t ed25519");
    const comment = parsed.key.comment;
    return { line: `${parsed.key.type} ${parsed.key.blob}${comment ? ` ${comment}` : ""}`, ...(comment ? { comment } : {}) };
  }
  throw configError(`no SSH public key found (looked at ${candidates.join(", ")})`, "make one with `ssh-keygen -t ed25519`, or pass --key PATH");
}

const PRINCIPAL_RE = /^[a-z0-9][a-z0-9._-]*$/;

/** A principal name: [a-z0-9][a-z0-9._-]*, or "" when nothing usable is left. */
function cleanName(raw: string): string {
  return raw.toLowerCase().replace(/[^a-z0-9._-]/g, "-").replace(/^[^a-z0-9]+/, "").replace(/[^a-z0-9]+$/, "").slice(0, 64);
}

export function principalName(given: string | undefined, keyComment: string | undefined, user: () => string): { name: string; from: string } {
  if (given !== undefined) {
    if (!PRINCIPAL_RE.test(given)) throw usageError(`--name ${JSON.stringify(given)} is not a principal name`, "use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit");
    return { name: given, from: "--name" };
  }
  const fromComment = keyComment ? cleanName(keyComment.split("@")[0]!) : "";
  if (fromComment && fromComment !== "root") return { name: fromComment, from: "from your key's comment" };
  let login = "";
  try {
    login = cleanName(user());
  } catch {
    /* no login name */
  }
  if (login && login !== "root") return { name: login, from: "your login name" };
  return { name: "me", from: "a placeholder: neither your key's comment nor your login name names a person; pass --name" };
}

const CONFIG = `# access-guard configuration: found by guard in this directory or any parent.
policies: policies
# store: postgres://guard@db.internal/guard   # default: ~/.local/state/access-guard
`;

function policyYaml(name: string, keyLine: string): string {
  return `# yaml-language-server: $schema=https://unpkg.com/guard-approvals/schema/policy.schema.json
# The policy guard enforces. Field reference: README "Policy reference"; check it with \`guard policy lint\`.
version: 1

environments:
  production:
    protected: true                 # destructive runs here need a second person's approval
    aliases: [prod]
    detect:                         # any detector that matches selects this environment
      - env: DATABASE_URL
        matches: "*prod*"
      - arg: "--env"
  staging:
    aliases: [stg]
    detect:
      - env: DATABASE_URL
        matches: "*staging*"
      - arg: "--env"
  development:
    aliases: [dev]
    detect:
      - env: DATABASE_URL
        matches: "*localhost*"
      - env: DATABASE_URL
        matches: "*127.0.0.1*"

# Used only when no detector's subject is present at all (DATABASE_URL unset, no --env flag). A
# DATABASE_URL that is set but that no detector above recognises (a typo, a new server) is refused as
# undetermined, never treated as development: add its server to the environment it belongs to.
# Values are read the way libpq reads them (percent-encoding, postgres:// or postgresql://, host=… conninfo).
default_environment: development

principals:
  ${name}:
    keys: ["${keyLine}"]
    groups: [sre]
  # A production run needs a second person: add a colleague (\`guard whoami\` prints their key line).
  # colleague:
  #   keys: ["ssh-ed25519 AAAA… colleague@example.com"]
  #   groups: [sre]

rules:
  - name: scripts-in-production-need-a-second-person
    match: { environments: [production], commands: ["scripts/*"] }
    require:
      approvals: 1
      from: [sre]
      reason: true
      confirm: true
      ttl: 30m
`;
}

const TESTS = `# Policy tests: \`guard policy test\` runs every *.test.yaml file in this directory.
tests:
  - name: a script against the production database needs an approval
    run: ["scripts/cleanup.sh"]
    env: { DATABASE_URL: "postgres://prod-db.internal/app" }
    expect: { decision: approval, environment: production, rules: [scripts-in-production-need-a-second-person] }
  - name: the same script on a laptop database runs
    run: ["scripts/cleanup.sh"]
    env: { DATABASE_URL: "postgres://localhost/app" }
    expect: { decision: allow, environment: development }
  - name: a database nobody listed is refused, never taken for development
    run: ["scripts/cleanup.sh"]
    env: { DATABASE_URL: "postgres://orders-prd-db.internal/app" }
    expect: { decision: deny, reasons_contain: ["target undetermined: DATABASE_URL"] }
  - name: with no DATABASE_URL at all the default environment applies
    run: ["scripts/cleanup.sh"]
    expect: { decision: allow, environment: development }
`;

const CLEANUP = `#!/bin/sh
# An example maintenance script scaffolded by \`guard init\`: replace it with your own.
# \`guard check -- ./scripts/cleanup.sh\` shows where it would run and what it would need;
# \`guard run -- ./scripts/cleanup.sh\` runs it (in production, after a second person's approval).
echo "cleanup: nothing to do (an example script)"
`;
