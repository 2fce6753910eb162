/**
 * The JSON Schema (for editors) is generated from the zod schema (schema/*.json are checked to be current
 * in generated.test.ts, with the loader's field table). The schema is closed and accepts the documented
 * and example policies.
 */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import * as schema from "../../src/core/policy/schema.js";
import { KEYS, codes, errors, parse } from "./helpers.js";

const repo = join(import.meta.dirname, "..", "..");
const readYaml = async (path: string): Promise<unknown> => parseYaml(await readFile(path, "utf8"), { version: "1.2", schema: "core", uniqueKeys: true });

describe("schema/*.json", () => {
  it.each([
    ["policy", schema.policyJsonSchema()],
    ["policy test", schema.policyTestJsonSchema()],
  ])("the %s schema closes every object and describes every field", (_name, json) => {
    const objects: Record<string, unknown>[] = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node && typeof node === "object") {
        const o = node as Record<string, unknown>;
        if (o.type === "object" && o.properties) objects.push(o);
        Object.values(o).forEach(visit);
      }
    };
    visit(json);
    expect(objects.length).toBeGreaterThanOrEqual(3);
    for (const o of objects) {
      expect(o.additionalProperties, JSON.stringify(Object.keys(o.properties as object))).toBe(false);
      for (const [field, prop] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
        expect(typeof prop.description, `field \`${field}\` has no description`).toBe("string");
      }
    }
  });
});

describe("the schema accepts the documented and example policies", () => {
  it("accepts every file of the example policy in policies/", async () => {
    const names = (await readdir(join(repo, "policies"))).filter((n) => /\.ya?ml$/.test(n));
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const n of names) {
      const data = await readYaml(join(repo, "policies", n));
      const s = n.endsWith(".test.yaml") ? schema.policyTestFileSchema : schema.policyFileSchema;
      const result = s.safeParse(data);
      expect(result.success, `${n}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
    }
  });

  it("accepts the PRODUCT.md policy example verbatim, so every documented field exists", async () => {
    const data = await readYaml(join(repo, "test/fixtures/policy/product-example.yaml"));
    const result = schema.policyFileSchema.safeParse(data);
    expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
    const test = schema.policyTestFileSchema.safeParse(await readYaml(join(repo, "test/fixtures/policy/product-example.test.yaml")));
    expect(test.success, JSON.stringify(test.error?.issues)).toBe(true);
  });

  it("rejects a misspelled field (the schema is closed, as the loader is)", () => {
    expect(schema.requireSchema.safeParse({ aprovals: 2 }).success).toBe(false);
    expect(schema.ruleSchema.safeParse({ name: "r", match: {}, allow: true, deny: "x" }).success).toBe(false);
  });

  it("the loader reads the PRODUCT.md example field for field (only its placeholders are refused)", async () => {
    const text = (await readFile(join(repo, "test/fixtures/policy/product-example.yaml"), "utf8"))
      .replace('"ssh-ed25519 AAAAC3Nza... alice@example.com"', `"${KEYS.alice}"`)
      .replace('"ssh-ed25519 AAAAC3Nza... bob@example.com"', `"${KEYS.bob}"`);
    const r = parse({ "policies/guard.yaml": text });
    // The example names `development` as the default without defining it; everything else is valid.
    expect(errors(r).map((d) => `${d.code}:${d.message}`)).toEqual(["undefined-environment:environment `development` is not defined"]);
    const fixed = parse({ "policies/guard.yaml": text.replace("  staging:\n", "  development: {}\n  staging:\n") });
    expect(codes(errors(fixed))).toEqual([]);
    expect(fixed.policy?.rules.map((x) => x.name)).toEqual(["purge-needs-an-sre", "reports-are-read-only", "never-destroy-prod-by-hand"]);
    expect(fixed.policy?.breakGlass).toEqual({ environments: ["production"], groups: ["sre"] });
  });
});
