/**
 * `guard init`: scaffold guard.config.yaml, a commented policy with the user's own key as its first
 * principal, and a policy test that passes. Idempotent: an existing file is never overwritten.
 */
import { constants, promises as fsp } from "node:fs";
import { join } from "node:path";
import { homedir, userInfo } from "node:os";
import { configError } from "../core/errors.js";
import { parseAuthorizedKey } from "../core/sshkey.js";
import { colours, say } from "../adapters/output.js";

export async function initCommand(opts: { key?: string }): Promise<void> {
  const cwd = process.cwd();
  const home = process.env.HOME || homedir();
  const keyLine = await findPublicKey(opts.key ?? process.env.GUARD_KEY, home);
  const name = principalName();
  const files: Array<[string, string]> = [
    ["guard.config.yaml", CONFIG],
    ["policies/guard.yaml", policyYaml(name, keyLine)],
    ["policies/guard.test.yaml", TESTS],
  ];
  await fsp.mkdir(join(cwd, "policies"), { recursive: true, mode: 0o755 });
  const c = colours();
  for (const [rel, content] of files) {
    const created = await writeNew(join(cwd, rel), content);
    say(created ? `${c.green("created")}  ${rel}` : `${c.dim("kept")}     ${rel} (already exists; not touched)`);
  }
  say("");
  say("next: guard policy lint && guard policy test");
  say("      guard check -- ./your-script.sh");
}

async function writeNew(path: string, content: string): Promise<boolean> {
  try {
    const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
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

async function findPublicKey(setting: string | undefined, home: string): Promise<string> {
  const candidates = setting ? [setting.endsWith(".pub") ? setting : `${setting}.pub`] : ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"].map((f) => join(home, ".ssh", f));
  for (const path of candidates) {
    let text: string;
    try {
      text = (await fsp.readFile(path, "utf8")).trim();
    } catch {
      continue;
    }
    const parsed = parseAuthorizedKey(text);
    if (!parsed.ok) throw configError(`${path}: ${parsed.reason}`, "make an ed25519 key: ssh-keygen -t ed25519");
    return `${parsed.key.type} ${parsed.key.blob}${parsed.key.comment ? ` ${parsed.key.comment}` : ""}`;
  }
  throw configError(`no SSH public key found (looked at ${candidates.join(", ")})`, "make one with `ssh-keygen -t ed25519`, or pass --key PATH");
}

function principalName(): string {
  let user = "me";
  try {
    user = userInfo().username;
  } catch {
    /* keep the default */
  }
  const cleaned = user.toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[^a-z0-9]+/, "");
  return cleaned || "me";
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
