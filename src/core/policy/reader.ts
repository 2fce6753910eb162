import { isMap, isScalar, isSeq, type Node, type Scalar, type YAMLMap } from "yaml";
import type { RegexCompiler } from "../linear-regex.js";
import type { SourceLocation } from "../types.js";
import type { FileDiagnostics } from "./diagnostics.js";
import { oneOf } from "../detectors/registry.js";
import type { FieldType, Format } from "./field-type.js";
import { MAX_NAME_LENGTH, ownersOf, type ObjectSpec } from "./fields.js";
import { closest } from "./suggest.js";
import { describeNode } from "./yaml-read.js";

export type YNode = Node | null | undefined;

export interface Field {
  key: Scalar;
  value: YNode;
  /** The field's type, from the schema (fields.generated.ts). */
  type: FieldType;
}

/** How a field is named in messages: "`ttl`". */
const label = (f: Field): string => `\`${String(f.key.value)}\``;

/**
 * The schema's patterns the reader checks and words itself. The other formats (duration, timestamp, role,
 * secret_source, url) are parsed by their field's reader (read-values.ts, read-credentials.ts,
 * webhook-url.ts), which refuses more than the pattern does and says why.
 */
const PATTERN_ERRORS: Partial<Record<Format, (what: string, s: string, max?: number) => [code: string, message: string, hint: string]>> = {
  name: (what, s, max = MAX_NAME_LENGTH) => ["bad-name", `${what} ${JSON.stringify(s)} is not a valid name`, `use lowercase ASCII letters, digits, \`-\` and \`_\` (starting with a letter or digit, at most ${max} characters)`],
  variable: (what, s) => ["bad-variable", `${what} ${JSON.stringify(s)} is not an environment variable name`, "use letters, digits and `_`, not starting with a digit, e.g. DATABASE_URL"],
  flag: (what, s) => ["bad-flag", `${what} ${JSON.stringify(s)} is not a command-line flag`, "write the flag as it is typed, e.g. `--env` or `-e`"],
  bind_env: (_, s) => ["bad-bind-env", `\`bind_env\` entry ${JSON.stringify(s)} is not a variable name or a glob over names`, "e.g. `PGHOST` or `VAULT_*`"],
};

/** How a list's items are named and read beyond their schema type. */
export interface ListOptions {
  /** How messages name one item: "an environment name" (default "an item of `field`"). */
  item?: string;
  /** A check of an item's meaning (a glob that compiles, a key guard accepts): the value, or null once reported. */
  each?: (value: string, node: YNode) => string | null;
  /** How an enum's messages name its values: "a notification event" (default: "one of `a`, `b`"). */
  noun?: string;
  /** The code of an enum's refusal (default "bad-value"). */
  code?: string;
}

/** Plain scalars that YAML 1.1 tools read as booleans; in YAML 1.2 they are strings, so they are ambiguous. */
const YAML11_BOOLEANS = new Set(["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]);

/**
 * Typed, located reads of YAML nodes. Every method reports its own problem (with the node's position and a
 * hint) and returns null, so that callers carry on and every problem in a file is collected.
 */
export class Reader {
  constructor(
    readonly sink: FileDiagnostics,
    private readonly badKeys: Set<Node>,
    /** The RE2 engine that checks detector regexes (policy/regex-check.ts). */
    readonly regex?: RegexCompiler,
  ) {}

  pos(node: YNode, fallback = 0): number {
    return node?.range?.[0] ?? fallback;
  }

  loc(node: YNode, fallback = 0): SourceLocation {
    return this.sink.at(this.pos(node, fallback));
  }

  error(node: YNode, code: string, message: string, hint?: string): void {
    this.sink.error(this.pos(node), code, message, hint);
  }

  map(node: YNode, what: string): YAMLMap | null {
    if (isMap(node)) return node;
    this.error(node, "wrong-type", `${what} must be a mapping (\`key: value\` lines), not ${describeNode(node)}`, "check the indentation and the YAML form of this value");
    return null;
  }

  /** The fields of an object, checked against its spec: unknown fields and missing required ones are errors. */
  fields(map: YAMLMap, spec: ObjectSpec): Map<string, Field> {
    const out = new Map<string, Field>();
    for (const pair of map.items) {
      const key = pair.key as Node;
      if (this.badKeys.has(key) || !isScalar(key) || typeof key.value !== "string") continue;
      const name = key.value;
      if (!spec.fields.includes(name)) {
        this.error(key, "unknown-field", `unknown field \`${name}\` in ${spec.label}`, unknownFieldHint(name, spec));
        continue;
      }
      out.set(name, { key, value: pair.value as YNode, type: spec.types[name]! });
    }
    for (const name of spec.required) {
      if (!out.has(name)) this.error(map, "missing-field", `${spec.label} needs \`${name}\``, `add \`${name}:\` here`);
    }
    return out;
  }

  /**
   * A value checked against its schema type: a string (its length, pattern), a boolean, a whole number,
   * one of an enum's values, a list (its length, each item), a mapping. Returns the value (a list's items
   * as `{ value, node }`, a mapping or a literal's read value for the caller), or null once the problem is
   * reported at the node. A literal's value (`version: 1`, `allow: true`) is the caller's to judge: its
   * message says why.
   */
  check(node: YNode, t: FieldType, what: string, opts: ListOptions = {}): unknown {
    switch (t.type) {
      case "string": {
        const s = this.string(node, what, { nonEmpty: (t.min ?? 0) > 0 });
        if (s === null) return null;
        const words = t.format ? PATTERN_ERRORS[t.format] : undefined;
        if (words && (!t.pattern!.test(s) || (t.max !== undefined && s.length > t.max))) {
          const [code, message, hint] = words(what, s, t.max);
          this.error(node, code, message, hint);
          return null;
        }
        if (!t.format && t.max !== undefined && s.length > t.max) {
          this.error(node, "too-long", `${what} is longer than ${t.max} characters`, "shorten it");
          return null;
        }
        return s;
      }
      case "enum": {
        const s = this.string(node, what);
        if (s === null || t.values.includes(s)) return s;
        const near = closest(s, t.values);
        const values = oneOf(t.values.map((v) => `\`${v}\``));
        this.error(node, opts.code ?? "bad-value", `${what} ${JSON.stringify(s)} is not ${opts.noun ?? `one of ${values}`}`, near ? `did you mean \`${near}\`?` : `write ${values}`);
        return null;
      }
      case "boolean":
        return this.bool(node, what);
      case "integer":
        return this.int(node, what, t.min ?? 0);
      case "literal":
        return typeof t.values[0] === "boolean" ? this.bool(node, what) : typeof t.values[0] === "number" ? this.int(node, what) : this.string(node, what);
      case "list": {
        const items = this.seq(node, what, { nonEmpty: (t.min ?? 0) > 0 });
        if (!items) return null;
        if (t.item.type === "object") return items.map((n) => ({ value: n, node: n }));
        const out: { value: unknown; node: YNode }[] = [];
        for (const n of items) {
          let v = this.check(n, t.item, opts.item ?? `an item of ${what}`, opts);
          if (v !== null && opts.each) v = opts.each(v as string, n);
          if (v !== null) out.push({ value: v, node: n });
        }
        return out;
      }
      case "object":
      case "record":
        return this.map(node, what);
    }
  }

  /** A string field (or an enum's value), checked against its schema type. */
  text(f: Field, what = label(f), opts: ListOptions = {}): string | null {
    if (f.type.type !== "string" && f.type.type !== "enum") throw new Error(`${label(f)} is not a string field`);
    return this.check(f.value, f.type, what, opts) as string | null;
  }

  /** A boolean field. */
  flag(f: Field, what = label(f)): boolean | null {
    if (f.type.type !== "boolean" && f.type.type !== "literal") throw new Error(`${label(f)} is not a boolean field`);
    return this.check(f.value, f.type, what) as boolean | null;
  }

  /** A whole-number field. */
  count(f: Field, what = label(f)): number | null {
    if (f.type.type !== "integer" && f.type.type !== "literal") throw new Error(`${label(f)} is not a number field`);
    return this.check(f.value, f.type, what) as number | null;
  }

  /** A list of strings, each checked against the item type (and `opts.each`); null when the list itself is unusable. */
  list(f: Field, what = label(f), opts: ListOptions = {}): { value: string; node: YNode }[] | null {
    if (f.type.type !== "list" || f.type.item.type === "object") throw new Error(`${label(f)} is not a list of values`);
    return this.check(f.value, f.type, what, opts) as { value: string; node: YNode }[] | null;
  }

  /** A list of objects: their nodes, each read by the object's own reader. */
  objects(f: Field, what = label(f)): YNode[] | null {
    if (f.type.type !== "list" || f.type.item.type !== "object") throw new Error(`${label(f)} is not a list of objects`);
    return (this.check(f.value, f.type, what) as { node: YNode }[] | null)?.map((i) => i.node) ?? null;
  }

  /** An object or a mapping by name. */
  mapping(f: Field, what = label(f)): YAMLMap | null {
    if (f.type.type !== "object" && f.type.type !== "record") throw new Error(`${label(f)} is not a mapping`);
    return this.check(f.value, f.type, what) as YAMLMap | null;
  }

  /** The entries of a mapping by name (a record field): each key checked against the record's key type (`name` null when it is not). */
  records(f: Field, what: string): { name: string | null; key: Scalar; value: YNode; type: FieldType }[] {
    if (f.type.type !== "record") throw new Error(`${label(f)} is not a mapping by name`);
    const { key: keyType, value: type } = f.type;
    const map = this.mapping(f);
    return map ? this.entries(map).map((e) => ({ ...e, name: this.check(e.key, keyType, what) as string | null, type })) : [];
  }

  /** The entries of a mapping keyed by names (environments, principals, variables). */
  entries(map: YAMLMap): { name: string; key: Scalar; value: YNode }[] {
    const out: { name: string; key: Scalar; value: YNode }[] = [];
    for (const pair of map.items) {
      const key = pair.key as Node;
      if (this.badKeys.has(key) || !isScalar(key) || typeof key.value !== "string") continue;
      out.push({ name: key.value, key, value: pair.value as YNode });
    }
    return out;
  }

  string(node: YNode, what: string, opts: { nonEmpty?: boolean } = {}): string | null {
    if (!isScalar(node) || typeof node.value !== "string") {
      const quoteHint = isScalar(node) && node.value !== null ? "quote the value if it is meant as text" : "give a text value";
      this.error(node, "wrong-type", `${what} must be a string, not ${describeNode(node)}`, quoteHint);
      return null;
    }
    if (node.type === "PLAIN" && YAML11_BOOLEANS.has(node.value)) {
      this.error(node, "ambiguous-value", `${what} is an unquoted \`${node.value}\`, which YAML 1.1 tools read as a boolean`, `quote it ("${node.value}") if you mean the text`);
      return null;
    }
    if (opts.nonEmpty && node.value.trim() === "") {
      this.error(node, "empty-value", `${what} must not be empty`, "give a value or remove the field");
      return null;
    }
    return node.value;
  }

  /** A real YAML 1.2 boolean, written `true` or `false`. */
  bool(node: YNode, what: string): boolean | null {
    if (isScalar(node) && typeof node.value === "boolean" && (node.source === "true" || node.source === "false")) return node.value;
    const written = isScalar(node) && node.source !== undefined ? ` (written \`${String(node.source)}\`)` : "";
    const hint = isScalar(node) && typeof node.value === "string" && YAML11_BOOLEANS.has(node.value) ? `\`${node.value}\` is a string in YAML 1.2: write true or false` : "write true or false";
    this.error(node, "wrong-type", `${what} must be true or false, not ${describeNode(node)}${typeof (node as Scalar | null)?.value === "boolean" ? written : ""}`, hint);
    return null;
  }

  /** A whole number written in plain decimal digits (no quotes, sign, fraction, exponent, octal or hex). */
  int(node: YNode, what: string, min = 0): number | null {
    const digits = isScalar(node) && typeof node.value === "number" && Number.isSafeInteger(node.value) && /^(0|[1-9][0-9]*)$/.test(String(node.source));
    if (digits && (node.value as number) >= min) return node.value as number;
    this.error(node, digits ? "out-of-range" : "wrong-type", `${what} must be a whole number of at least ${min}, not ${describeNode(node)}`, `write it in plain digits without quotes, e.g. \`${Math.max(min, 1)}\``);
    return null;
  }

  seq(node: YNode, what: string, opts: { nonEmpty?: boolean } = {}): YNode[] | null {
    if (!isSeq(node)) {
      this.error(node, "wrong-type", `${what} must be a list, not ${describeNode(node)}`, "write a list: `[a, b]` or one `- item` per line");
      return null;
    }
    if (opts.nonEmpty && node.items.length === 0) {
      this.error(node, "empty-list", `${what} must not be empty`, "list at least one item, or remove the field");
      return null;
    }
    return node.items as YNode[];
  }
}

function unknownFieldHint(name: string, spec: ObjectSpec): string {
  const near = closest(name, spec.fields);
  if (near) return `did you mean \`${near}\`?`;
  const owners = ownersOf(name);
  if (owners.length > 0) return `\`${name}\` is a field of ${owners.join(" or ")}, not of ${spec.label}: check its indentation`;
  return `the fields of ${spec.label} are: ${spec.fields.join(", ")}`;
}
