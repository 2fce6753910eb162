/**
 * A field's type as the loader checks it, generated per field from the one schema (schema.ts) into
 * fields.generated.ts by `npm run gen:docs` (generate.ts). The loader checks every value against it on
 * the YAML node tree (reader.ts: Reader.check), so a field's type, length bounds, pattern and allowed
 * values are stated once, in the schema; what a value means (a duration's range, a key's algorithm, a
 * glob that compiles) stays code in the read-*.ts modules.
 */
export type FieldType =
  /** A string; `format` names its pattern (fields.ts FORMATS), `pattern` is the schema's own regex. */
  | { readonly type: "string"; readonly min?: number; readonly max?: number; readonly format?: Format; readonly pattern?: RegExp }
  | { readonly type: "boolean" }
  /** One of these values exactly (`version: 1`, `allow: true`). */
  | { readonly type: "literal"; readonly values: readonly (string | number | boolean)[] }
  | { readonly type: "enum"; readonly values: readonly string[] }
  | { readonly type: "integer"; readonly min?: number }
  | { readonly type: "list"; readonly item: FieldType; readonly min?: number }
  /** One of the objects of fields.generated.ts, by name. */
  | { readonly type: "object"; readonly ref: string }
  /** A mapping by name: keys of type `key`, values of type `value`. */
  | { readonly type: "record"; readonly key: FieldType; readonly value: FieldType };

/** The named patterns the schema uses (generate.ts names each regex of schema.ts; an unnamed one fails generation). */
export type Format = "name" | "variable" | "role" | "bind_env" | "duration" | "timestamp" | "flag" | "secret_source" | "url";
