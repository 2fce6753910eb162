/**
 * The README's policy reference is generated from the policy schema (src/core/policy/schema.ts) by
 * `npm run gen:docs`: every field the schema accepts has a row, with the field's own description, and
 * the README documents no field the schema does not have.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { README_MARKERS, renderPolicyReference, withPolicyReference } from "../../src/core/policy/generate.js";
import { policyJsonSchema } from "../../src/core/policy/schema.js";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README policy reference", () => {
  it("is the table the schema renders (run `npm run gen:docs` and commit README.md)", () => {
    const start = readme.indexOf(README_MARKERS.start);
    const end = readme.indexOf(README_MARKERS.end);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(readme.slice(start, end + README_MARKERS.end.length)).toBe(renderPolicyReference());
    expect(withPolicyReference(readme)).toBe(readme);
  });

  it("has a row, with a meaning, for every property of the JSON Schema editors use", () => {
    const rows = new Map(
      renderPolicyReference()
        .split("\n")
        .filter((l) => l.startsWith("| `"))
        .map((l) => [/^\| `([^`]+)`/.exec(l)![1]!, l.split(" | ").at(-1)!]),
    );
    const json = policyJsonSchema();
    const defs = (json.$defs ?? {}) as Record<string, Record<string, unknown>>;
    const paths: string[] = [];
    const walk = (node: unknown, path: string, depth: number): void => {
      if (typeof node !== "object" || node === null || depth > 20) return;
      const n = node as Record<string, unknown>;
      if (typeof n.$ref === "string") return walk(defs[n.$ref.split("/").pop()!], path, depth + 1);
      for (const k of ["anyOf", "oneOf", "allOf"]) for (const x of (n[k] as unknown[] | undefined) ?? []) walk(x, path, depth + 1);
      for (const [k, v] of Object.entries((n.properties as Record<string, unknown> | undefined) ?? {})) {
        paths.push(path ? `${path}.${k}` : k);
        walk(v, path ? `${path}.${k}` : k, depth + 1);
      }
      if (typeof n.additionalProperties === "object") walk(n.additionalProperties, `${path}.<name>`, depth + 1);
      if (n.items) walk(n.items, `${path}[]`, depth + 1);
    };
    walk(json, "", 0);
    expect(paths.length).toBeGreaterThan(50);
    for (const p of paths) {
      expect(rows.has(p), `README has no row for \`${p}\``).toBe(true);
      expect(rows.get(p)!.length, `\`${p}\` has no meaning`).toBeGreaterThan(3);
    }
  });
});
