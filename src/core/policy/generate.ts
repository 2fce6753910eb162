/**
 * What `npm run gen:docs` (scripts/gen-docs.mjs) writes from the one policy schema (schema.ts): the JSON
 * Schemas for editors (schema/*.json) and the loader's field table (fields.generated.ts: every object's
 * field names, required fields and each field's type — field-type.ts — with its length bounds, named
 * pattern, enum values and nested object). The outputs are committed; test/policy/generated.test.ts checks that
 * they are what this module renders now, so a field added to the schema reaches the loader and the editor
 * schema in one step, and nothing holds two hand-written copies equal.
 */
import type { z } from "zod";
import { FLAG_RE } from "../detectors/arg.js";
import { DURATION_RE } from "../duration.js";
import type { FieldType, Format } from "./field-type.js";
import { BIND_ENV_RE, ENV_VAR_RE, NAME_RE, PG_ROLE_RE } from "./fields.js";
import * as schema from "./schema.js";
import { ISO_RE } from "./timestamp.js";

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

/** A union's fields that only some of its variants have: what tells them apart (a rule's effects, a probe's matchers). */
export function variantKeysOf(s: z.ZodType): string[] | undefined {
  const shapes = variants(s);
  if (shapes.length < 2) return undefined;
  return fieldsOf(s).fields.filter((f) => !shapes.every((shape) => shape[f] !== undefined));
}

/** The name of each regex the schema uses; the loader words its messages by these names. */
const FORMATS = new Map<RegExp, Format>([
  [NAME_RE, "name"],
  [ENV_VAR_RE, "variable"],
  [PG_ROLE_RE, "role"],
  [BIND_ENV_RE, "bind_env"],
  [DURATION_RE, "duration"],
  [ISO_RE, "timestamp"],
  [FLAG_RE, "flag"],
  [schema.SECRET_SOURCE_RE, "secret_source"],
  [schema.WEBHOOK_URL_RE, "url"],
]);

interface Check {
  check: string;
  minimum?: number;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  format?: string;
  pattern?: RegExp;
}
const checksOf = (s: z.ZodType): Check[] => ((defOf(s) as { checks?: { _zod: { def: Check } }[] }).checks ?? []).map((c) => c._zod.def);

/** A field's type as the loader checks it (field-type.ts), from its zod schema. */
export function fieldType(field: z.ZodType): FieldType {
  const s = unwrap(field);
  const def = anyDef(s);
  const checks = checksOf(s);
  const min = checks.find((c) => c.check === "min_length")?.minimum;
  const bounds = min !== undefined ? { min } : {};
  switch (def.type) {
    case "string": {
      const max = checks.find((c) => c.check === "max_length")?.maximum;
      const regex = checks.find((c) => c.check === "string_format")?.pattern;
      const format = regex ? FORMATS.get(regex) : undefined;
      if (regex && !format) throw new Error(`name the pattern ${String(regex)} in generate.ts FORMATS`);
      return { type: "string", ...bounds, ...(max !== undefined ? { max } : {}), ...(format ? { format, pattern: regex } : {}) };
    }
    case "boolean":
      return { type: "boolean" };
    case "literal":
      return { type: "literal", values: def.values as (string | number | boolean)[] };
    case "enum":
      return { type: "enum", values: Object.values(def.entries!) };
    case "number": {
      if (!checks.some((c) => c.check === "number_format" && c.format === "safeint")) throw new Error("only whole numbers are read");
      const low = checks.find((c) => c.check === "greater_than" && c.inclusive);
      return { type: "integer", ...(low?.value !== undefined ? { min: low.value } : {}) };
    }
    case "array":
      return { type: "list", item: fieldType(def.element!), ...bounds };
    case "record":
      return { type: "record", key: fieldType((def as { keyType?: z.ZodType }).keyType!), value: fieldType(def.valueType!) };
    case "object":
    case "union": {
      const ref = Object.entries(OBJECTS).find(([, o]) => o === s)?.[0];
      if (!ref) throw new Error("a nested object must be one of OBJECTS");
      return { type: "object", ref };
    }
    default:
      throw new Error(`no loader type for zod type ${def.type}`);
  }
}

/** Each field's type across an object's variants; a field must have one type in all of them. */
export function typesOf(s: z.ZodType): Record<string, FieldType> {
  const out: Record<string, FieldType> = {};
  for (const shape of variants(s)) {
    for (const [k, v] of Object.entries(shape)) {
      const t = fieldType(v);
      if (out[k] && renderType(out[k]) !== renderType(t)) throw new Error(`field ${k} has two types`);
      out[k] = t;
    }
  }
  return out;
}

/** A FieldType as TypeScript source (regexes as literals). */
function renderType(t: FieldType): string {
  const parts = Object.entries(t).map(([k, v]) => {
    if (v instanceof RegExp) return `${k}: ${String(v)}`;
    if (k === "item" || k === "key" || k === "value") return `${k}: ${renderType(v as FieldType)}`;
    return `${k}: ${JSON.stringify(v).replace(/,/g, ", ")}`;
  });
  return `{ ${parts.join(", ")} }`;
}

/** src/core/policy/fields.generated.ts */
export function renderFieldsModule(): string {
  const lines = Object.entries(OBJECTS).flatMap(([name, s]) => {
    const { fields, required } = fieldsOf(s);
    const types = typesOf(s);
    const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;
    return [
      `  ${name}: {`,
      `    fields: ${list(fields)},`,
      `    required: ${list(required)},`,
      ...(variantKeysOf(s) ? [`    variantKeys: ${list(variantKeysOf(s)!)},`] : []),
      "    types: {",
      ...fields.map((f) => `      ${/^[a-z_]+$/.test(f) ? f : JSON.stringify(f)}: ${renderType(types[f]!)},`),
      "    },",
      "  },",
    ];
  });
  return [
    "// Generated from src/core/policy/schema.ts by `npm run gen:docs` (src/core/policy/generate.ts): do not edit.",
    "// Every object of a policy or policy-test file as the loader checks it: field names, required fields, a union's",
    "// variant keys (the fields only some variants have), each field's type.",
    'import type { FieldType } from "./field-type.js";',
    "",
    "export const FIELDS = {",
    ...lines,
    "} as const satisfies Record<string, { fields: readonly string[]; required: readonly string[]; variantKeys?: readonly string[]; types: Record<string, FieldType> }>;",
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
