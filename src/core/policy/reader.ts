import { isMap, isScalar, isSeq, type Node, type Scalar, type YAMLMap } from "yaml";
import type { RegexCompiler } from "../linear-regex.js";
import type { SourceLocation } from "../types.js";
import type { FileDiagnostics } from "./diagnostics.js";
import { MAX_NAME_LENGTH, NAME_RE, ownersOf, type ObjectSpec } from "./fields.js";
import { closest } from "./suggest.js";
import { describeNode } from "./yaml-read.js";

export type YNode = Node | null | undefined;

export interface Field {
  key: Scalar;
  value: YNode;
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
      out.set(name, { key, value: pair.value as YNode });
    }
    for (const name of spec.required) {
      if (!out.has(name)) this.error(map, "missing-field", `${spec.label} needs \`${name}\``, `add \`${name}:\` here`);
    }
    return out;
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

  /** A name: lowercase ASCII letters, digits, `-` and `_`, starting with a letter or digit. */
  name(node: YNode, what: string): string | null {
    const s = this.string(node, what);
    if (s === null) return null;
    if (!NAME_RE.test(s) || s.length > MAX_NAME_LENGTH) {
      this.error(node, "bad-name", `${what} ${JSON.stringify(s)} is not a valid name`, `use lowercase ASCII letters, digits, \`-\` and \`_\` (starting with a letter or digit, at most ${MAX_NAME_LENGTH} characters)`);
      return null;
    }
    return s;
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

  /** A list of strings (each checked by `item` when given); null when the list itself is unusable. */
  strings(node: YNode, what: string, opts: { nonEmpty?: boolean; item?: (node: YNode) => string | null } = {}): { value: string; node: YNode }[] | null {
    const items = this.seq(node, what, opts);
    if (!items) return null;
    const out: { value: string; node: YNode }[] = [];
    for (const item of items) {
      const v = opts.item ? opts.item(item) : this.string(item, `an item of ${what}`, { nonEmpty: true });
      if (v !== null) out.push({ value: v, node: item });
    }
    return out;
  }
}

function unknownFieldHint(name: string, spec: ObjectSpec): string {
  const near = closest(name, spec.fields);
  if (near) return `did you mean \`${near}\`?`;
  const owners = ownersOf(name);
  if (owners.length > 0) return `\`${name}\` is a field of ${owners.join(" or ")}, not of ${spec.label}: check its indentation`;
  return `the fields of ${spec.label} are: ${spec.fields.join(", ")}`;
}
