import { editDistance } from "./suggest.js";
import type { Diagnostic } from "../errors.js";

/**
 * A strict reader for `guard.config.yaml` and the system configuration: a handful of top-level
 * `key: value` lines. It runs on every invocation, so it is a small hand-written reader instead of the
 * yaml package (whose import alone costs about 30 ms). It accepts a strict subset of YAML 1.2 and gives
 * every accepted line the meaning YAML gives it, so editors and guard read the file alike; anything
 * outside the subset (nesting, lists, anchors, multi-line values, a second document) is refused with
 * file:line:col instead of being guessed at.
 */

export type ConfigFieldType = "string" | "boolean";

export interface ConfigValue {
  value: string | boolean;
  line: number;
  /** Column of the value (1-based). */
  col: number;
}

export interface ConfigText {
  values: Map<string, ConfigValue>;
  diagnostics: Diagnostic[];
}

/** A configuration file is a few lines; anything larger is the wrong file. */
export const MAX_CONFIG_BYTES = 64 * 1024;

const KEY_LINE = /^([A-Za-z0-9_-]+):(?:[ \t]+|$)/;
/** YAML 1.2 core schema scalars that are not strings. */
const CORE_NULL = /^(?:null|Null|NULL|~)$/;
const CORE_BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const CORE_NUMBER = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
/** Plain scalars that YAML 1.1 tools read as booleans: a reader must never disagree with an editor. */
const YAML11_BOOL = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;

/** Parse `text` (already decoded) against the allowed fields. Never throws; problems are diagnostics. */
export function parseConfigText(text: string, file: string, fields: Readonly<Record<string, ConfigFieldType>>): ConfigText {
  const diagnostics: Diagnostic[] = [];
  const values = new Map<string, ConfigValue>();
  const firstLine = new Map<string, number>();
  const err = (line: number, col: number, code: string, message: string, hint: string): void => {
    diagnostics.push({ severity: "error", code, message, file, line, col, hint });
  };
  let sawContent = false;
  const lines = text.split("\n");
  lines.forEach((raw, index) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const n = index + 1;
    if (/^[ \t]*(?:#.*)?$/.test(line)) return;
    if (/^---[ \t]*(?:#.*)?$/.test(line) && !sawContent) {
      sawContent = true;
      return;
    }
    sawContent = true;
    if (/^(?:---|\.\.\.)(?:[ \t]|$)/.test(line)) {
      err(n, 1, "multiple-documents", "a second YAML document (`---` or `...`) in the configuration", "keep a single document of `key: value` lines");
      return;
    }
    if (/^[ \t]/.test(line)) {
      err(n, 1, "unsupported-yaml", "an indented line: the configuration holds only top-level `key: value` lines", `the fields are: ${Object.keys(fields).join(", ")}`);
      return;
    }
    const m = KEY_LINE.exec(line);
    if (!m) {
      err(n, 1, "unsupported-yaml", "expected a `key: value` line", `the fields are: ${Object.keys(fields).join(", ")}`);
      return;
    }
    const key = m[1] as string;
    const type = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (type === undefined) {
      const near = closestField(key, Object.keys(fields));
      err(n, 1, "unknown-field", `unknown field \`${key}\``, near ? `did you mean \`${near}\`?` : `the fields are: ${Object.keys(fields).join(", ")}`);
      return;
    }
    const first = firstLine.get(key);
    if (first !== undefined) {
      err(n, 1, "duplicate-key", `\`${key}\` is set twice (first on line ${first})`, "delete one of them; guard never keeps the first or the last");
      err(first, 1, "duplicate-key", `\`${key}\` is set twice (again on line ${n})`, "delete one of them; guard never keeps the first or the last");
      values.delete(key);
      return;
    }
    firstLine.set(key, n);
    const col = m[0].length + 1;
    const scalar = readScalar(line.slice(m[0].length));
    if ("problem" in scalar) {
      err(n, col, scalar.code, `\`${key}\`: ${scalar.problem}`, scalar.hint);
      return;
    }
    const typed = typeCheck(key, type, scalar);
    if ("problem" in typed) {
      err(n, col, typed.code, typed.problem, typed.hint);
      return;
    }
    values.set(key, { value: typed.value, line: n, col });
  });
  diagnostics.sort((a, b) => a.line - b.line || a.col - b.col);
  return { values, diagnostics };
}

type Scalar = { text: string; quoted: boolean } | { problem: string; code: string; hint: string };

function readScalar(rest: string): Scalar {
  if (rest === "" || /^#/.test(rest)) return { problem: "has no value", code: "missing-value", hint: "give a value, or delete the line" };
  const first = rest[0] as string;
  if (first === '"') return readDoubleQuoted(rest);
  if (first === "'") return readSingleQuoted(rest);
  if (/^[[\]{},&*!|>%@`]/.test(rest) || /^[-?:](?:[ \t]|$)/.test(rest)) {
    return { problem: `a value starting with \`${first}\` is not supported here`, code: "unsupported-yaml", hint: "write a plain value, or quote it" };
  }
  const comment = /[ \t]#/.exec(rest);
  const text = (comment ? rest.slice(0, comment.index) : rest).replace(/[ \t]+$/, "");
  if (/:(?:[ \t]|$)/.test(text)) return { problem: "a `: ` inside an unquoted value", code: "unsupported-yaml", hint: "quote the value" };
  return { text, quoted: false };
}

const SIMPLE_ESCAPES: Record<string, string> = { "\\": "\\", '"': '"', "/": "/", n: "\n", t: "\t", r: "\r" };

function readDoubleQuoted(rest: string): Scalar {
  let out = "";
  let i = 1;
  for (;;) {
    const c = rest[i];
    if (c === undefined) return { problem: "the double quote is not closed on this line", code: "yaml-syntax", hint: "close the quote; values span one line" };
    if (c === '"') break;
    if (c === "\\") {
      const e = rest[i + 1] ?? "";
      if (SIMPLE_ESCAPES[e] !== undefined) {
        out += SIMPLE_ESCAPES[e];
        i += 2;
        continue;
      }
      const u = /^u([0-9a-fA-F]{4})/.exec(rest.slice(i + 1));
      if (u) {
        out += String.fromCharCode(parseInt(u[1] as string, 16));
        i += 6;
        continue;
      }
      return { problem: `the escape \`\\${e}\` is not supported`, code: "unsupported-yaml", hint: "use single quotes, or one of \\\\ \\\" \\n \\t \\uXXXX" };
    }
    out += c;
    i++;
  }
  return afterQuote(rest.slice(i + 1), out);
}

function readSingleQuoted(rest: string): Scalar {
  let out = "";
  let i = 1;
  for (;;) {
    const c = rest[i];
    if (c === undefined) return { problem: "the single quote is not closed on this line", code: "yaml-syntax", hint: "close the quote; values span one line" };
    if (c === "'") {
      if (rest[i + 1] === "'") {
        out += "'";
        i += 2;
        continue;
      }
      break;
    }
    out += c;
    i++;
  }
  return afterQuote(rest.slice(i + 1), out);
}

function afterQuote(tail: string, text: string): Scalar {
  if (!/^(?:[ \t]+#.*)?[ \t]*$/.test(tail)) return { problem: "unexpected text after the closing quote", code: "yaml-syntax", hint: "put a comment after a space and `#`, or nothing" };
  return { text, quoted: true };
}

function typeCheck(key: string, type: ConfigFieldType, s: { text: string; quoted: boolean }): { value: string | boolean } | { problem: string; code: string; hint: string } {
  if (type === "boolean") {
    if (!s.quoted && (s.text === "true" || s.text === "false")) return { value: s.text === "true" };
    return { problem: `\`${key}\` must be true or false, not ${s.quoted ? "a quoted string" : `\`${s.text}\``}`, code: "wrong-type", hint: "write true or false, unquoted" };
  }
  if (!s.quoted) {
    const kind = CORE_NULL.test(s.text) ? "null" : CORE_BOOL.test(s.text) ? "a boolean" : CORE_NUMBER.test(s.text) ? "a number" : null;
    if (kind !== null) return { problem: `\`${key}\` must be a string, but \`${s.text}\` is ${kind} in YAML`, code: "wrong-type", hint: `quote it: "${s.text}"` };
    if (YAML11_BOOL.test(s.text)) return { problem: `\`${key}\` is an unquoted \`${s.text}\`, which YAML 1.1 tools read as a boolean`, code: "ambiguous-value", hint: `quote it: "${s.text}"` };
  }
  if (s.text.trim() === "") return { problem: `\`${key}\` is empty`, code: "empty-value", hint: "give a value, or delete the line" };
  if (/[\x00-\x1f\x7f]/.test(s.text)) return { problem: `\`${key}\` contains a control character`, code: "forbidden-character", hint: "remove it" };
  return { value: s.text };
}

function closestField(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

