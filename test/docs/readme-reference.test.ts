/**
 * The README's policy reference is kept in sync with the schema: every field the schema accepts is
 * documented, and the README documents no field the schema does not have.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { policyJsonSchema } from "../../src/core/policy/schema.js";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");

type Node = Record<string, unknown>;

function schemaPaths(schema: Node): { all: Set<string>; leaves: Set<string> } {
  const defs = (schema.$defs ?? schema.definitions ?? {}) as Record<string, Node>;
  const all = new Set<string>();
  const parents = new Set<string>();
  const walk = (n: unknown, path: string, depth: number): void => {
    if (typeof n !== "object" || n === null || depth > 20) return;
    const node = n as Node;
    if (typeof node.$ref === "string") return walk(defs[node.$ref.split("/").pop()!], path, depth + 1);
    for (const k of ["anyOf", "oneOf", "allOf"]) for (const x of (node[k] as unknown[] | undefined) ?? []) walk(x, path, depth + 1);
    const props = node.properties as Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(props ?? {})) {
      const p = path ? `${path}.${k}` : k;
      all.add(p);
      if (path) parents.add(path.replace(/(\.<name>|\[\])$/, ""));
      walk(v, p, depth + 1);
    }
    if (typeof node.additionalProperties === "object") walk(node.additionalProperties, `${path}.<name>`, depth + 1);
    if (node.items) walk(node.items, `${path}[]`, depth + 1);
  };
  walk(schema, "", 0);
  const leaves = new Set([...all].filter((p) => !parents.has(p)));
  return { all, leaves };
}

function documentedPaths(): Set<string> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("<!-- policy-reference:start -->");
  const end = readme.indexOf("<!-- policy-reference:end -->");
  expect(start).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  const rows = readme.slice(start, end).split("\n").filter((l) => l.startsWith("| `"));
  return new Set(rows.map((l) => /^\| `([^`]+)`/.exec(l)![1]!));
}

describe("README policy reference", () => {
  const { all, leaves } = schemaPaths(policyJsonSchema() as Node);
  const documented = documentedPaths();

  it("documents every field of the schema", () => {
    expect([...leaves].filter((p) => !documented.has(p)).sort()).toEqual([]);
  });

  it("documents no field the schema does not have", () => {
    expect([...documented].filter((p) => !all.has(p)).sort()).toEqual([]);
  });
});
