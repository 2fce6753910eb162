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

/** The markers around the generated block in README.md. */
export const README_MARKERS = { start: "<!-- policy-reference:start -->", end: "<!-- policy-reference:end -->" } as const;

interface AnyDef extends Def {
  element?: z.ZodType;
  valueType?: z.ZodType;
  values?: unknown[];
  entries?: Record<string, string>;
}
const anyDef = (s: z.ZodType): AnyDef => defOf(s) as AnyDef;
const unwrap = (s: z.ZodType): z.ZodType => (anyDef(s).type === "optional" ? unwrap(anyDef(s).innerType!) : s);
const description = (s: z.ZodType): string | undefined => s.description ?? (anyDef(s).type === "optional" ? description(anyDef(s).innerType!) : undefined);
const code = (v: unknown): string => `\`${String(v)}\``;

/** How the reference names a field's type: "name", "list of globs", "`json` \| `slack`". */
function typeOf(field: z.ZodType): string {
  const own = schema.docType.get(field)?.type;
  if (own) return own;
  const s = unwrap(field);
  if (s !== field) return typeOf(s);
  const def = anyDef(s);
  switch (def.type) {
    case "literal":
      return def.values!.map(code).join(" \\| ");
    case "enum":
      return Object.values(def.entries!).map(code).join(" \\| ");
    case "boolean":
      return "boolean";
    case "number":
      return "number";
    case "array": {
      const item = typeOf(def.element!);
      return item.includes("`") ? `list of ${item.replace(/ \\\| /g, ", ")}` : `list of ${item}s`;
    }
    case "object":
    case "union":
      return "mapping";
    case "record":
      return "mapping by name";
    default:
      return def.type;
  }
}

/** One row per field, in schema order: `path`, type, meaning (the field's description); a union's variants share rows. */
function referenceRows(s: z.ZodType, path: string, rows: Map<string, { type: string; meaning: string }>): void {
  const inner = unwrap(s);
  const def = anyDef(inner);
  const nested = def.type === "object" || def.type === "union" || def.type === "record" || (def.type === "array" && ["object", "union"].includes(anyDef(unwrap(def.element!)).type));
  if (path && !rows.has(path)) rows.set(path, { type: typeOf(s), meaning: description(s) ?? "" });
  if (!nested) return;
  if (def.type === "array") return referenceRows(def.element!, `${path}[]`, rows);
  if (def.type === "record") return referenceRows(def.valueType!, `${path}.<name>`, rows);
  for (const shape of variants(inner)) {
    for (const [k, v] of Object.entries(shape)) referenceRows(v, path ? `${path}.${k}` : k, rows);
  }
}

/** The README's policy reference table (between README_MARKERS), rendered from the policy file schema. */
export function renderPolicyReference(): string {
  const rows = new Map<string, { type: string; meaning: string }>();
  referenceRows(schema.policyFileSchema, "", rows);
  const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    README_MARKERS.start,
    "| field | type | meaning |",
    "|---|---|---|",
    ...[...rows].map(([path, r]) => `| \`${path}\` | ${r.type} | ${cell(r.meaning)} |`),
    README_MARKERS.end,
  ].join("\n");
}

/** README.md with its policy reference block replaced by the rendered one; null when the markers are missing. */
export function withPolicyReference(readme: string): string | null {
  const start = readme.indexOf(README_MARKERS.start);
  const end = readme.indexOf(README_MARKERS.end);
  if (start < 0 || end < start) return null;
  return readme.slice(0, start) + renderPolicyReference() + readme.slice(end + README_MARKERS.end.length);
}
