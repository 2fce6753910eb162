/**
 * One schema (src/core/policy/schema.ts) drives the loader's field table, the JSON Schemas for editors and
 * the README's policy reference; `npm run gen:docs` writes them. These tests fail when a committed output
 * is not what the schema renders now (run `npm run gen:docs` and commit), and check that the loader really
 * reads its fields from the generated table.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIELDS } from "../../src/core/policy/fields.generated.js";
import { SPECS } from "../../src/core/policy/fields.js";
import { OBJECTS, fieldsOf, generatedFiles, variantKeysOf } from "../../src/core/policy/generate.js";
import * as schema from "../../src/core/policy/schema.js";
import { codes, errors, parse } from "./helpers.js";

const repo = join(import.meta.dirname, "..", "..");

describe("npm run gen:docs", () => {
  it.each(Object.entries(generatedFiles()))("%s is committed as the schema renders it (run `npm run gen:docs`)", (path, text) => {
    expect(readFileSync(join(repo, path), "utf8")).toBe(text);
  });

  it("the loader's field table is the generated one, for every object it reads", () => {
    expect(Object.keys(SPECS).sort()).toEqual(Object.keys(OBJECTS).sort());
    for (const [name, { label: _, ...spec }] of Object.entries(SPECS)) expect(spec).toEqual(FIELDS[name as keyof typeof FIELDS]);
  });

  it("a union's fields are its variants' fields; required are those every variant requires", () => {
    expect(fieldsOf(schema.ruleSchema)).toEqual({ fields: ["name", "description", "match", "allow", "deny", "require"], required: ["name", "match"] });
    expect(fieldsOf(schema.credentialsSchema)).toEqual({ fields: ["postgres", "command"], required: [] });
    expect(fieldsOf(schema.freezeSchema).required).toEqual(["name", "environments", "from", "until", "reason"]);
    expect(variantKeysOf(schema.ruleSchema)).toEqual(["allow", "deny", "require"]);
    expect(variantKeysOf(schema.credentialsSchema)).toEqual(["postgres", "command"]);
    expect(variantKeysOf(schema.identitySchema)).toEqual(["equals", "matches", "regex"]);
    expect(variantKeysOf(schema.freezeSchema)).toBeUndefined();
  });

  it("the loader refuses a field the schema does not have, and asks for one it requires, with did-you-mean", () => {
    const r = parse({ "p.yaml": "version: 1\nrules:\n  - name: r\n    match: {}\n    require: { aprovals: 1 }\n" });
    const d = errors(r).find((x) => x.code === "unknown-field");
    expect(d?.message).toBe("unknown field `aprovals` in a rule's `require`");
    expect(d?.hint).toBe("did you mean `approvals`?");
    expect(`${d?.line}:${d?.col}`).toBe("5:16");
    expect(codes(errors(r))).toContain("missing-field");
  });
});
