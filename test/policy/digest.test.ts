/**
 * The policy digest that requests bind is the digest of what decides (issue 17 item 5): presentation —
 * descriptions, comments, layout, how the policy is split into files and what they are called, key
 * comments, where the checkout lives — leaves it alone; every deciding field changes it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KEYS, errors, parse } from "./helpers.js";

const ENVS = `version: 1
environments:
  production:
    description: Live load-balancer state.
    protected: true
    aliases: [prod]
    detect:
      - env: DATABASE_URL
        matches: "*prod-db.*"
      - kube_context: "prod-*"
    identity:
      - command: [sh, -c, "echo elb-prod"]
        equals: elb-prod
    credentials:
      postgres:
        admin: "env:GUARD_PG_ADMIN_URL"
        grant: [elb_maintainer]
        export: DATABASE_URL
  staging:
    description: Nightly copy.
    aliases: [stg]
    detect:
      - env: DATABASE_URL
        matches: "*staging-db.*"
default_environment: staging
bind_env: [PGHOST]
principals:
  alice:
    keys: ["${KEYS.alice}"]
    groups: [sre]
  bob:
    keys: ["${KEYS.bob}"]
    groups: [sre, dba]
`;

const RULES = `version: 1
rules:
  - name: purge-needs-an-sre
    description: The 2012 incident.
    match:
      environments: [production]
      commands: ["maintenance/purge-*.sh"]
    require:
      approvals: 1
      from: [sre]
      reason: true
      ttl: 30m
      preview:
        command: ["{program}", "--dry-run", "{args}"]
        recheck: true
  - name: reports
    match: { environments: [production], commands: ["maintenance/report-*.sh"] }
    allow: true
freezes:
  - name: year-end
    environments: [production]
    from: 2026-12-23T00:00:00Z
    until: 2027-01-02T00:00:00Z
    reason: Year-end change freeze
break_glass:
  environments: [production]
  groups: [sre]
notifications:
  webhooks:
    - { name: ops, url: "https://hooks.example.com/x", events: [request.created] }
`;

type Files = Record<string, string>;
const BASE: Files = { "policies/environments.yaml": ENVS, "policies/rules.yaml": RULES };

function digest(files: Files, root = "/srv/repo"): string {
  const r = parse(files, root);
  expect(errors(r)).toEqual([]);
  return r.policy!.digest;
}

/** An edit that does not apply to these files (an earlier edit changed what it looks for). */
class NotApplicable extends Error {}

/** Replace exactly one occurrence of `from` in whichever file holds it. */
function edit(files: Files, from: string, to: string): Files {
  const out: Files = {};
  let hits = 0;
  for (const [name, text] of Object.entries(files)) {
    const n = text.split(from).length - 1;
    hits += n;
    out[name] = n === 1 ? text.replace(from, to) : text;
  }
  if (hits !== 1) throw new NotApplicable(`edit: ${JSON.stringify(from)} occurs ${hits} times`);
  return out;
}

/** Edits that change only presentation: open requests stay valid. */
const PRESENTATION: [string, (f: Files) => Files][] = [
  ["an environment's description", (f) => edit(f, "Live load-balancer state.", "Every customer's load-balancer state.")],
  ["a description removed", (f) => edit(f, "    description: Nightly copy.\n", "")],
  ["a rule's description", (f) => edit(f, "The 2012 incident.", "Purging is what went wrong in 2012.")],
  ["a rule's description added", (f) => edit(f, "  - name: reports\n", "  - name: reports\n    description: read-only\n")],
  ["a comment and blank lines (every location moves)", (f) => ({ ...f, "policies/rules.yaml": `# what needs whom\n\n${f["policies/rules.yaml"]}` })],
  ["block style to flow style", (f) => edit(f, "    aliases: [stg]\n", "    aliases:\n      - stg\n")],
  ["a key's comment", (f) => edit(f, "alice@example.com", "alice@laptop")],
  ["the order of environments in the file", (f) => {
      const envs = f["policies/environments.yaml"];
      if (envs === undefined) throw new NotApplicable();
      return { ...f, "policies/environments.yaml": envs.replace(/( {2}production:[\s\S]*?)( {2}staging:[\s\S]*?)(default_environment)/, "$2$1$3") };
    }],
  ["the order of principals", (f) => edit(f, `  alice:\n    keys: ["${KEYS.alice}"]\n    groups: [sre]\n  bob:\n    keys: ["${KEYS.bob}"]\n    groups: [sre, dba]\n`, `  bob:\n    keys: ["${KEYS.bob}"]\n    groups: [sre, dba]\n  alice:\n    keys: ["${KEYS.alice}"]\n    groups: [sre]\n`)],
  [
    "a file renamed",
    (f) => {
      const { "policies/environments.yaml": envs, ...rest } = f;
      if (envs === undefined) throw new NotApplicable();
      return { ...rest, "policies/guard.yaml": envs };
    },
  ],
  [
    "the principals moved to a file of their own",
    (f) => {
      const envs = f["policies/environments.yaml"];
      if (envs === undefined) throw new NotApplicable();
      const at = envs.indexOf("principals:\n");
      return { ...f, "policies/environments.yaml": envs.slice(0, at), "policies/people.yaml": `version: 1\n${envs.slice(at)}` };
    },
  ],
];

/** Edits that change what decides: open requests are void. */
const DECIDING: [string, (f: Files) => Files][] = [
  ["protected", (f) => edit(f, "    aliases: [stg]\n", "    protected: true\n    aliases: [stg]\n")],
  ["an alias", (f) => edit(f, "aliases: [prod]", "aliases: [prod, live]")],
  ["a detector pattern", (f) => edit(f, '"*prod-db.*"', '"*prod-db*"')],
  ["a detector added", (f) => edit(f, '      - kube_context: "prod-*"\n', '      - kube_context: "prod-*"\n      - host: "db1.*"\n')],
  ["an identity probe's answer", (f) => edit(f, "equals: elb-prod", "equals: elb-prod-2")],
  ["credentials granted", (f) => edit(f, "grant: [elb_maintainer]", "grant: [elb_maintainer, admin]")],
  ["the default environment", (f) => edit(f, "default_environment: staging", "default_environment: production")],
  ["bind_env", (f) => edit(f, "bind_env: [PGHOST]", "bind_env: [PGHOST, PGUSER]")],
  ["a principal's key", (f) => edit(f, KEYS.bob, KEYS.carol)],
  ["a principal's groups", (f) => edit(f, "groups: [sre, dba]", "groups: [sre]")],
  ["a principal renamed", (f) => edit(f, "  bob:\n", "  robert:\n")],
  ["a principal added", (f) => edit(f, "principals:\n", `principals:\n  dave:\n    keys: ["${KEYS.dave}"]\n    groups: [dba]\n`)],
  ["a rule's approvals", (f) => edit(f, "approvals: 1\n      from: [sre]", "approvals: 2\n      from: [sre]")],
  ["a rule's from", (f) => edit(f, "from: [sre]\n      reason", "from: [sre, dba]\n      reason")],
  ["a rule's ttl", (f) => edit(f, "ttl: 30m", "ttl: 31m")],
  ["a rule's command glob", (f) => edit(f, '"maintenance/purge-*.sh"', '"maintenance/purge*.sh"')],
  ["a rule renamed", (f) => edit(f, "name: reports\n", "name: reports-ok\n")],
  ["a rule's effect", (f) => edit(f, "    allow: true\nfreezes", '    deny: "no"\nfreezes')],
  ["the preview command", (f) => edit(f, '"--dry-run"', '"--plan"')],
  ["the preview's recheck", (f) => edit(f, "recheck: true", "recheck: false")],
  ["a freeze's end", (f) => edit(f, "until: 2027-01-02T00:00:00Z", "until: 2027-01-03T00:00:00Z")],
  ["break-glass groups", (f) => edit(f, "  groups: [sre]\nnotifications", "  groups: [sre, dba]\nnotifications")],
  ["a webhook's events", (f) => edit(f, "events: [request.created]", "events: [request.created, run.started]")],
  ["a webhook's url", (f) => edit(f, "hooks.example.com/x", "hooks.example.com/y")],
  [
    "the order of rules",
    (f) => {
      const rules = f["policies/rules.yaml"]!;
      const purge = rules.slice(rules.indexOf("  - name: purge"), rules.indexOf("  - name: reports"));
      const reports = rules.slice(rules.indexOf("  - name: reports"), rules.indexOf("freezes:"));
      return { ...f, "policies/rules.yaml": rules.replace(purge + reports, reports + purge) };
    },
  ],
];

describe("the policy digest binds what decides, not the bytes", () => {
  const base = digest(BASE);

  it("is the same wherever the policy is checked out (root is not bound)", () => {
    expect(digest(BASE, "/home/someone/else")).toBe(base);
  });

  it.each(PRESENTATION)("keeps its value when only presentation changes: %s", (_name, change) => {
    expect(digest(change(BASE))).toBe(base);
  });

  it.each(DECIDING)("changes when what decides changes: %s", (_name, change) => {
    expect(digest(change(BASE))).not.toBe(base);
  });

  it("any mix of presentation edits keeps it; adding any deciding edit changes it (property)", () => {
    const indices = (n: number) => fc.subarray([...Array(n).keys()]);
    fc.assert(
      fc.property(indices(PRESENTATION.length), fc.option(fc.integer({ min: 0, max: DECIDING.length - 1 }), { nil: undefined }), (shown, decide) => {
        // Deciding edits first: some presentation edits (renaming or splitting files) move text between files.
        let files = decide === undefined ? BASE : DECIDING[decide]![1](BASE);
        for (const i of shown) {
          try {
            files = PRESENTATION[i]![1](files);
          } catch (e) {
            if (!(e instanceof NotApplicable)) throw e;
          }
        }
        const d = digest(files);
        if (decide === undefined) expect(d).toBe(base);
        else expect(d).toBe(digest(DECIDING[decide]![1](BASE)));
        if (decide !== undefined) expect(d).not.toBe(base);
      }),
      { numRuns: 150 },
    );
  });

  it("an environment or principal named like a presentation field is still bound", () => {
    const named = edit(BASE, "  staging:\n", "  description:\n");
    const fixed = (f: Files) => ({ ...f, "policies/environments.yaml": f["policies/environments.yaml"]!.replace("default_environment: staging", "default_environment: description") });
    const a = digest(fixed(named));
    expect(digest(fixed(edit(named, '"*staging-db.*"', '"*stage-db.*"')))).not.toBe(a);
  });
});
