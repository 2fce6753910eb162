/**
 * The loader's type checks are the schema's: for every field of every object in the generated table
 * (fields.generated.ts, rendered from schema.ts), a policy whose value for that field has the wrong type
 * gets a located error (file:line:col of the value) that names the field, and the schema itself (zod,
 * the source of schema/*.json) refuses the same document. The documents are made from the table: a field
 * the schema gains is covered as soon as the full fixtures below use it (the first test fails until then).
 */
import { describe, expect, it } from "vitest";
import { LineCounter, isMap, isSeq, parse as parseYaml, parseDocument, type Node } from "yaml";
import type { FieldType } from "../../src/core/policy/field-type.js";
import { FIELDS } from "../../src/core/policy/fields.generated.js";
import { policyFileSchema, policyTestFileSchema } from "../../src/core/policy/schema.js";
import { KEYS, errors, parse } from "./helpers.js";

type ObjectName = keyof typeof FIELDS;

/** A policy file that uses every field of every object (each union's variants in some instance). */
const POLICY = `version: 1
default_environment: staging
environments:
  production:
    protected: true
    aliases: [prod]
    description: the production database
    detect:
      - env: DATABASE_URL
        matches: "*prod-db.*"
      - env: PGHOST
        equals: prod-db.internal
      - env: PGSERVICE
        regex: "^prod$"
      - kube_context: "prod-*"
      - host: "db1.*"
      - arg: --env
      - argument: "*host=prod-db*"
    identity:
      - command: [/bin/echo, prod]
        equals: prod
        timeout: 5s
      - command: [/bin/echo, prod]
        matches: "pro*"
      - command: [/bin/echo, prod]
        regex: "^prod$"
    credentials:
      postgres:
        admin: env:GUARD_PG_ADMIN_URL
        grant: [maintainer]
        export: DATABASE_URL
        ttl: 15m
  staging:
    credentials:
      command:
        run: [/usr/local/bin/mint, staging]
        revoke: [/usr/local/bin/revoke]
        timeout: 30s
principals:
  alice:
    keys: ["${KEYS.alice}"]
    groups: [sre]
  bob:
    keys: ["${KEYS.bob}"]
    groups: [sre]
rules:
  - name: purge
    description: purges need an sre
    match:
      environments: [production]
      commands: ["maintenance/purge-*.sh"]
      args: ["--all"]
    require:
      approvals: 1
      from: [sre]
      reason: true
      confirm: true
      ttl: 30m
      preview:
        command: ["{program}", "--dry-run", "{args}"]
        recheck: true
        timeout: 30s
  - name: no-drop
    match: { commands: [dropdb] }
    deny: never drop
  - name: staging-ok
    match: { environments: [staging] }
    allow: true
freezes:
  - name: holidays
    environments: [production]
    from: 2026-12-23T00:00:00Z
    until: 2027-01-02T00:00:00Z
    reason: holidays
break_glass:
  environments: [production]
  groups: [sre]
bind_env: [VAULT_*]
notifications:
  webhooks:
    - name: chat
      url: https://hooks.example.com/x
      format: slack
      events: [request.created]
      environments: [production]
      timeout: 3s
`;

/** A policy test file that uses every field of its objects. */
const TESTS = `version: 1
now: 2026-06-01T00:00:00Z
tests:
  - name: staging is allowed
    run: [psql]
    env: { DATABASE_URL: "postgres://staging-db.internal/x" }
    host: db2.internal
    kube_context: dev
    identity: { production: prod }
    declared_env: staging
    now: 2026-06-01T00:00:00Z
    expect:
      decision: allow
      environment: staging
      rules: [staging-ok]
      reasons_contain: [staging-ok]
`;

type Path = (string | number)[];
interface Site {
  object: ObjectName;
  field: string;
  type: FieldType;
  path: Path;
}

/** Every (object, field) the document holds, with the path of its first use, found by walking it with the table's types. */
function sites(root: Node, object: ObjectName): Map<string, Site> {
  const out = new Map<string, Site>();
  const walkValue = (node: unknown, t: FieldType, path: Path): void => {
    if (t.type === "object" && isMap(node)) walkObject(node, t.ref as ObjectName, path);
    else if (t.type === "list" && isSeq(node)) node.items.forEach((item, i) => walkValue(item, t.item, [...path, i]));
    else if (t.type === "record" && isMap(node)) for (const pair of node.items) walkValue(pair.value, t.value, [...path, String((pair.key as { value: unknown }).value)]);
  };
  const walkObject = (map: Node, name: ObjectName, path: Path): void => {
    const spec = FIELDS[name];
    for (const pair of (map as { items: { key: { value: string }; value: unknown }[] }).items) {
      const field = pair.key.value;
      const type = (spec.types as Record<string, FieldType>)[field]!;
      const key = `${name}.${field}`;
      if (!out.has(key)) out.set(key, { object: name, field, type, path: [...path, field] });
      walkValue(pair.value, type, [...path, field]);
    }
  };
  walkObject(root, object, []);
  return out;
}

/**
 * Values the field's schema type refuses: another YAML type (a mapping for a list, a list for anything
 * else, a scalar of the wrong kind), and each constraint the type states broken (an empty list or string
 * where one is required, a string off its pattern or over its length, a value not in the enum, a number
 * under its minimum, another literal). Generated from the type, so a new constraint is tried too.
 */
function badValues(t: FieldType): unknown[] {
  switch (t.type) {
    case "string":
      return [5, ...(t.min ? [""] : []), ...(t.pattern ? ["Not A Valid Value!"] : []), ...(t.max !== undefined ? ["a".repeat(t.max + 1)] : [])];
    case "enum":
      return [5, "not-one-of-them"];
    case "boolean":
      return ["maybe"];
    case "integer":
      return ["two", ...(t.min !== undefined ? [t.min - 1] : [])];
    case "literal":
      return ["other", typeof t.values[0] === "number" ? 2 : !t.values[0]];
    case "list":
      return [{ wrong: 1 }, 5, ...(t.min ? [[]] : [])];
    case "object":
    case "record":
      return [[1], "text"];
  }
}

/** The position of the node at `path` in `text` (the document's root for []). */
function positionOf(text: string, path: Path): { line: number; col: number } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const node = (path.length === 0 ? doc.contents : doc.getIn(path, true)) as Node;
  return lines.linePos(node.range![0]);
}

const FILES = [
  { file: "guard.yaml", text: POLICY, object: "policyFile", schema: policyFileSchema, objects: (Object.keys(FIELDS) as ObjectName[]).filter((o) => !["testFile", "testCase", "expect"].includes(o)) },
  { file: "guard.test.yaml", text: TESTS, object: "testFile", schema: policyTestFileSchema, objects: ["testFile", "testCase", "expect"] as ObjectName[] },
] as const;

const loadWith = (file: string, text: string) => parse(file === "guard.yaml" ? { "guard.yaml": text, "guard.test.yaml": TESTS } : { "guard.yaml": POLICY, [file]: text });

describe("each field's type comes from the schema", () => {
  for (const f of FILES) {
    const all = sites(parseDocument(f.text).contents as Node, f.object as ObjectName);

    it(`the full ${f.file} is valid for the loader and the schema, and uses every field of the table`, () => {
      expect(errors(loadWith(f.file, f.text))).toEqual([]);
      expect(f.schema.safeParse(parseYaml(f.text)).success).toBe(true);
      const expected = f.objects.flatMap((o) => FIELDS[o].fields.map((field) => `${o}.${field}`)).sort();
      expect([...all.keys()].sort()).toEqual(expected);
    });

    const cases = [...all.values()].flatMap((site) => badValues(site.type).map((value) => [`${site.object}.${site.field}: ${JSON.stringify(value).slice(0, 40)}`, site, value] as const));
    it.each(cases)(`${f.file}: %s is refused by the loader (located at the value, naming the field) and by the schema`, (_, s, value) => {
      const doc = parseDocument(f.text);
      doc.setIn(s.path, doc.createNode(value, { flow: true }));
      const text = String(doc);
      const at = positionOf(text, s.path);
      const located = errors(loadWith(f.file, text)).filter((d) => d.file === f.file && d.line === at.line && d.col === at.col);
      expect(located.map((d) => d.message).join("\n")).toMatch(new RegExp(`\\b${s.field}\\b`));
      expect(f.schema.safeParse(parseYaml(text)).success).toBe(false);
    });

    /** The first use of each object, by the path of one of its fields. */
    const objects = new Map<ObjectName, Path>();
    for (const site of all.values()) if (!objects.has(site.object)) objects.set(site.object, site.path.slice(0, -1));

    const required = [...objects].flatMap(([object, path]) => FIELDS[object].required.map((field) => [`${object}.${field}`, path, field] as const));
    it.each(required)(`${f.file}: without %s the loader says it is missing (at the object) and the schema refuses it`, (_, path, field) => {
      const doc = parseDocument(f.text);
      doc.deleteIn([...path, field]);
      const text = String(doc);
      const at = positionOf(text, path);
      const missing = errors(loadWith(f.file, text)).filter((d) => d.code === "missing-field" && d.line === at.line && d.col === at.col);
      expect(missing.map((d) => d.message).join("\n")).toContain(`\`${field}\``);
      expect(f.schema.safeParse(parseYaml(text)).success).toBe(false);
    });

    const unknown = [...objects].map(([object, path]) => [object, path, `${FIELDS[object].fields[0]}x`, FIELDS[object].fields[0]] as const);
    it.each(unknown)(`${f.file}: a misspelled field of %s is unknown to the loader (did-you-mean) and to the schema`, (_, path, typo, meant) => {
      const doc = parseDocument(f.text);
      doc.setIn([...path, typo], "x");
      const text = String(doc);
      const at = positionOf(text, [...path, typo]);
      const d = errors(loadWith(f.file, text)).find((x) => x.code === "unknown-field");
      expect(d?.message).toContain(`\`${typo}\``);
      expect(d?.hint).toBe(`did you mean \`${meant}\`?`);
      expect(d?.line).toBe(at.line);
      expect(f.schema.safeParse(parseYaml(text)).success).toBe(false);
    });
  }
});
