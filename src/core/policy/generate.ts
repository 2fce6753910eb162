/**
 * What `npm run gen:docs` (scripts/gen-docs.mjs) writes from the one policy schema (schema.ts): the JSON
 * Schemas for editors (schema/*.json) and the loader's field table (fields.generated.ts: every object's
 * field names and required fields). The outputs are committed; test/policy/generated.test.ts checks that
 * they are what this module renders now, so a field added to the schema reaches the loader and the editor
 * schema in one step, and nothing holds two hand-written copies equal.
 */
import type { z } from "zod";
import * as schema from "./schema.js";

/** The objects the loader reads, each with its schema (a union's variants share one object's fields). */
export const OBJECTS = {
  policyFile: schema.policyFileSchema,
  environment: schema.environmentSchema,
  identity: schema.identitySchema,
  credentials: schema.credentialsSchema,
  credentialsPostgres: schema.credentialsPostgresSchema,
  credentialsCommand: schema.credentialsCommandSchema,
  detector: schema.detectorSchema,
  principal: schema.principalSchema,
  rule: schema.ruleSchema,
  match: schema.matchSchema,
  require: schema.requireSchema,
  preview: schema.previewSchema,
  freeze: schema.freezeSchema,
  breakGlass: schema.breakGlassSchema,
  notifications: schema.notificationsSchema,
  webhook: schema.webhookSchema,
  testFile: schema.policyTestFileSchema,
  testCase: schema.testCaseSchema,
  expect: schema.expectSchema,
} as const;

interface Def {
  type: string;
  options?: z.ZodType[];
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

/** The variants of a union (flattened), or the object itself. */
function variants(s: z.ZodType): Record<string, z.ZodType>[] {
  const def = defOf(s);
  if (def.type === "union") return def.options!.flatMap(variants);
  if (def.type === "object") return [def.shape!];
  throw new Error(`not an object or a union of objects: ${def.type}`);
}

/** A field is required when no variant lets it be left out. */
const optional = (s: z.ZodType): boolean => defOf(s).type === "optional";

/** An object's field names (in schema order, across its variants) and the fields every variant requires. */
export function fieldsOf(s: z.ZodType): { fields: string[]; required: string[] } {
  const shapes = variants(s);
  const fields = [...new Set(shapes.flatMap((shape) => Object.keys(shape)))];
  const required = fields.filter((f) => shapes.every((shape) => shape[f] !== undefined && !optional(shape[f])));
  return { fields, required };
}

/** src/core/policy/fields.generated.ts */
export function renderFieldsModule(): string {
  const lines = Object.entries(OBJECTS).map(([name, s]) => {
    const { fields, required } = fieldsOf(s);
    const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;
    return `  ${name}: { fields: ${list(fields)}, required: ${list(required)} },`;
  });
  return [
    "// Generated from src/core/policy/schema.ts by `npm run gen:docs` (src/core/policy/generate.ts): do not edit.",
    "// The field names and required fields of every object of a policy or policy-test file, as the loader checks them.",
    "export const FIELDS = {",
    ...lines,
    "} as const;",
    "",
  ].join("\n");
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** The committed outputs, by path from the repository root. */
export function generatedFiles(): Record<string, string> {
  return {
    "schema/policy.schema.json": json(schema.policyJsonSchema()),
    "schema/policy-test.schema.json": json(schema.policyTestJsonSchema()),
    "src/core/policy/fields.generated.ts": renderFieldsModule(),
  };
}
