import { Composer, Lexer, Parser, isAlias, isMap, isScalar, isSeq, type Node } from "yaml";
import type { FileDiagnostics } from "./diagnostics.js";

/** Deeper nesting is refused before parsing (P8); a real policy is about six levels deep. */
export const MAX_DEPTH = 64;

/** Map keys that could reach a JavaScript prototype if anything ever turned the document into objects. */
export const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Lexer control tokens: they mark modes and carry no source text. */
const CONTROL_TOKENS = new Set(["\u0002", "\u0018", "\u001f", "\ufeff"]);

export interface YamlRead {
  /** The single document's root node, or null when the file has none (an error is recorded). */
  root: Node | null;
  /** Key nodes already reported (reserved names, merge keys, non-string keys): the typed reader skips them. */
  badKeys: Set<Node>;
}

/**
 * Parse one YAML file under guard's rules: the YAML 1.2 core schema only, one document, unique keys, and no
 * anchors, aliases, merge keys, tags or directives. Nesting depth is measured on the lexer's token stream
 * (linear, no recursion) and refused before the parser and composer run, so a deeply nested or
 * alias-heavy file costs one linear pass. Aliases are never resolved: guard never converts the document
 * to plain objects, it reads the node tree.
 */
export function readYaml(text: string, sink: FileDiagnostics): YamlRead {
  const badKeys = new Set<Node>();
  const tokens = Array.from(new Lexer().lex(text));
  if (!scanTokens(tokens, sink)) return { root: null, badKeys };

  const docs = [];
  try {
    const parser = new Parser();
    const cst = function* () {
      for (const t of tokens) yield* parser.next(t);
      yield* parser.end();
    };
    const composer = new Composer({ version: "1.2", schema: "core", uniqueKeys: true, merge: false, strict: true, prettyErrors: false });
    for (const doc of composer.compose(cst())) docs.push(doc);
  } catch (e) {
    // The composer recurses; the depth scan keeps this out of reach, but never let a parser failure escape as a crash.
    sink.error(0, "yaml-unreadable", `the YAML parser gave up: ${e instanceof Error ? e.message : String(e)}`, "simplify the file; it is nested too deeply or malformed");
    return { root: null, badKeys };
  }

  for (const doc of docs) {
    for (const e of [...doc.errors, ...doc.warnings]) reportYamlError(sink, e.code, e.message, e.pos[0]);
  }
  if (docs.length > 1) {
    const second = docs[1]!;
    sink.error(second.range[0], "multiple-documents", "the file holds more than one YAML document (a second `---`)", "keep one document per file: put further definitions in another file of the policy directory");
  }
  const first = docs[0];
  const root = (first?.contents ?? null) as Node | null;
  if (!root || (isScalar(root) && root.value === null)) {
    sink.error(first?.range[0] ?? 0, "empty-file", "the file is empty (nothing but blank lines or comments)", "an empty policy never means allow-all: add definitions or delete the file");
    return { root: null, badKeys };
  }
  checkKeys(root, sink, badKeys);
  return { root, badKeys };
}

function reportYamlError(sink: FileDiagnostics, code: string, message: string, offset: number): void {
  switch (code) {
    case "DUPLICATE_KEY":
      sink.error(offset, "duplicate-key", "duplicate key: a key may appear only once in a mapping", "delete one of them (YAML 1.2 requires unique keys; guard never keeps the first or the last)");
      return;
    case "TAB_AS_INDENT":
      sink.error(offset, "tab-indentation", "a tab is used for indentation", "indent with spaces; YAML does not allow tabs there");
      return;
    default:
      sink.error(offset, "yaml-syntax", `YAML syntax: ${message.replace(/\s+/g, " ").trim()}`, "fix the YAML at this position (an unclosed quote or bracket, a wrong indentation)");
  }
}

/**
 * One linear pass over the lexer tokens: refuses anchors, aliases, tags and directives where they are
 * written, and estimates the nesting depth. The estimate counts every open flow bracket plus a stack of
 * block collections keyed by the column of their indicator (`-`, `?`, or the key before `:`), popped when a
 * line starts at or left of them; it is an upper bound for well-formed YAML. Returns false when the file is
 * too deep to parse at all.
 */
function scanTokens(tokens: readonly string[], sink: FileDiagnostics): boolean {
  let offset = 0;
  let col = 0;
  let flow = 0;
  let atLineStart = true;
  let nodeCol = -1;
  let scalarNext = false;
  const stack: { col: number; kind: "seq" | "map" }[] = [];

  const open = (c: number, kind: "seq" | "map"): void => {
    const top = stack[stack.length - 1];
    if (!top || top.col < c) stack.push({ col: c, kind });
    else if (top.col === c && top.kind !== kind && stack.filter((s) => s.col === c).length < 2) stack.push({ col: c, kind });
  };

  for (const tok of tokens) {
    if (CONTROL_TOKENS.has(tok)) {
      if (tok === "\u001f") scalarNext = true;
      continue;
    }
    const start = offset;
    const startCol = col;
    offset += tok.length;
    const nl = tok.lastIndexOf("\n");
    col = nl === -1 ? col + tok.length : tok.length - nl - 1;

    const isScalarText = scalarNext;
    scalarNext = false;
    if (tok === "" || /^[ \t]+$/.test(tok)) continue;
    if (tok === "\n" || tok === "\r\n") {
      atLineStart = true;
      continue;
    }
    if (tok.startsWith("#")) continue;
    if (tok === "---" || tok === "...") {
      stack.length = 0;
      flow = 0;
      atLineStart = false;
      continue;
    }

    if (!isScalarText) {
      const c = tok[0];
      if (c === "&") sink.error(start, "anchor", `YAML anchor \`${tok}\` is not allowed`, "write the value out in full: guard refuses anchors, aliases and merge keys so that what you read is what applies");
      else if (c === "*") sink.error(start, "alias", `YAML alias \`${tok}\` is not allowed`, `if you meant text (such as the glob "${tok}"), quote it; guard refuses anchors, aliases and merge keys so that what you read is what applies`);
      else if (c === "!") sink.error(start, "tag", `YAML tag \`${tok}\` is not allowed`, "remove the tag: guard reads plain YAML 1.2 values only; quote a value to make it a string");
      else if (c === "%") sink.error(start, "directive", `YAML directive \`${tok.split(/\s/)[0]}\` is not allowed`, "remove the directive: guard always reads YAML 1.2 with the core schema");
    }

    if (atLineStart && flow === 0) {
      while (stack.length > 0 && stack[stack.length - 1]!.col > startCol) stack.pop();
      nodeCol = -1;
    }
    atLineStart = false;

    if (!isScalarText && (tok === "[" || tok === "{")) flow++;
    else if (!isScalarText && (tok === "]" || tok === "}")) flow = Math.max(0, flow - 1);
    else if (!isScalarText && flow === 0 && (tok === "-" || tok === "?")) {
      open(startCol, tok === "-" ? "seq" : "map");
      nodeCol = -1;
    } else if (!isScalarText && flow === 0 && tok === ":") {
      open(nodeCol >= 0 ? nodeCol : startCol, "map");
      nodeCol = -1;
    } else if (nodeCol < 0) nodeCol = startCol;

    if (stack.length + flow > MAX_DEPTH) {
      sink.error(start, "too-deep", `the file is nested too deeply: more than ${MAX_DEPTH} levels`, "a policy needs a handful of levels; check that this is the right file");
      return false;
    }
  }
  return true;
}

/** Every mapping key must be a plain string, and none may be a reserved or merge key. */
function checkKeys(root: Node, sink: FileDiagnostics, badKeys: Set<Node>): void {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isSeq(node)) {
      pending.push(...node.items);
    } else if (isMap(node)) {
      for (const pair of node.items) {
        const key = pair.key as Node | null;
        pending.push(pair.value);
        const at = key?.range?.[0] ?? node.range?.[0] ?? 0;
        if (!isScalar(key) || typeof key.value !== "string") {
          if (key) badKeys.add(key);
          if (!isAlias(key)) sink.error(at, "key-not-string", `a mapping key must be a string, not ${describeNode(key)}`, "quote the key if it is meant to be a name");
          continue;
        }
        if (key.value === "<<" && key.type === "PLAIN") {
          badKeys.add(key);
          sink.error(at, "merge-key", "YAML merge key `<<` is not allowed", "write the fields out in full: a merge can silently override a field such as `approvals`");
        } else if (RESERVED_KEYS.has(key.value)) {
          badKeys.add(key);
          sink.error(at, "reserved-key", `the key \`${key.value}\` is reserved`, "rename it; `__proto__`, `constructor` and `prototype` are refused everywhere");
        }
      }
    }
  }
}

/** How a node reads, for messages: "the number 600", "a list", "null (an empty value)". */
export function describeNode(node: unknown): string {
  if (node === null || node === undefined) return "nothing";
  if (isAlias(node)) return "an alias";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "null (an empty value)";
    if (typeof v === "number") return `the number ${String(v)}${node.source !== undefined && node.source !== String(v) ? ` (written \`${String(node.source)}\`)` : ""}`;
    if (typeof v === "boolean") return `the boolean ${String(v)}`;
    if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
    return `a ${typeof v}`;
  }
  return "an unexpected value";
}
