/**
 * Property tests of the policy loader (P1–P9, P11): whatever bytes or YAML-ish text a policy directory
 * holds, parsePolicyFiles returns either a policy with no error, or errors — every diagnostic located
 * in a file it was given, at line ≥ 1 and col ≥ 1 within the text — and never throws or hangs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { performance } from "node:perf_hooks";
import { parsePolicyFiles } from "../../src/core/policy/parse.js";
import { RE2 } from "../core/policy-fixture.js";
import type { ParsedPolicy, PolicyFile } from "../../src/core/policy/types.js";
import { ENVS_AND_PRINCIPALS, KEYS, VALID } from "../policy/helpers.js";

const ROOT = "/srv/repo";
const enc = new TextEncoder();
/** Far above what the parser needs for a few KiB (it takes about a millisecond); a hang trips it. */
const BUDGET_MS = 2_000;

/** Parse, and check everything that must hold for any input. */
function parseChecked(files: PolicyFile[]): ParsedPolicy {
  const started = performance.now();
  let result: ParsedPolicy;
  try {
    result = parsePolicyFiles(files, ROOT, { regex: RE2 });
  } catch (e) {
    throw new Error(`parsePolicyFiles threw: ${e instanceof Error ? e.stack : String(e)}`, { cause: e });
  }
  const took = performance.now() - started;
  expect(took, "parsing took too long").toBeLessThan(BUDGET_MS);

  const byPath = new Map(files.map((f) => [f.path, f.bytes]));
  for (const d of result.diagnostics) {
    expect(["error", "warning"]).toContain(d.severity);
    expect(d.code).toMatch(/^[a-z0-9-]+$/);
    expect(d.message.length).toBeGreaterThan(0);
    expect(byPath.has(d.file), `diagnostic in a file that was not given: ${d.file}`).toBe(true);
    expect(Number.isInteger(d.line) && d.line >= 1, `line ${d.line}`).toBe(true);
    expect(Number.isInteger(d.col) && d.col >= 1, `col ${d.col}`).toBe(true);
    // Within the text: one past the last line is "at the end of the input", one past the end of a line
    // is "at its end". Columns count UTF-16 units for text, bytes for undecodable input: bytes bound both.
    const lines = Buffer.from(byPath.get(d.file)!).toString("latin1").split("\n");
    expect(d.line, `${d.code} at ${d.line}:${d.col} in a ${lines.length}-line file`).toBeLessThanOrEqual(lines.length + 1);
    const lineBytes = lines[d.line - 1]?.length ?? 0;
    expect(d.col, `${d.code} at ${d.line}:${d.col}, beyond the end of its line`).toBeLessThanOrEqual(lineBytes + 2);
  }
  const hasErrors = result.diagnostics.some((d) => d.severity === "error");
  expect(result.policy === undefined, "a policy comes out exactly when there is no error").toBe(hasErrors);
  return result;
}

const one = (content: Uint8Array | string, path = "policies/guard.yaml"): PolicyFile[] => [
  { path, bytes: typeof content === "string" ? enc.encode(content) : content },
];

// --- YAML-ish documents --------------------------------------------------------------------------

const KEYS_VOCAB = [
  "version", "environments", "production", "staging", "protected", "aliases", "detect", "env", "matches", "equals",
  "regex", "kube_context", "host", "arg", "argument", "default_environment", "principals", "alice", "bob", "keys",
  "groups", "rules", "name", "match", "environments", "commands", "args", "allow", "deny", "require", "approvals",
  "aprovals", "from", "reason", "confirm", "ttl", "freezes", "until", "break_glass", "bind_env", "description",
  "__proto__", "constructor", "prototype", "<<", "? complex", "tests", "run", "expect", "decision",
];

const SCALARS = [
  "1", "0", "-1", "2", "2.5", "2.0", "0x1", "0600", "4294967295", ".inf", "-.inf", ".nan", "null", "~", "",
  "true", "false", "yes", "no", "on", "off", "True", "NO", '"2"', "'x'", '"unclosed', "'unclosed", "30m", "7d", "8d",
  "0m", "prod", "prоd", "ｐｒｏｄ", "pro\u200bd", "\u202eevil", "*prod-db.*", "[prod, prd]", "{ a: 1 }", "[", "{", "]",
  "&a [x]", "*a", "&a", "!!str x", "!!binary aGk=", "!tag x", "|", ">-", "- x", "a: b: c", "2026-12-23T00:00:00Z",
  "2026-13-45", `"${KEYS.alice}"`, '"ssh-rsa AAAA"', "scripts/purge-*.sh", "%YAML 1.1", "---", "...", "#", "\\", "\t",
  "\u0000", "\u001b[2J", "@x", "`x`", "%", "|\n  block", "'a''b'", '"\\u0000"', '"\\x1b"',
];

interface Node {
  kind: "map" | "seq" | "scalar" | "flow";
  entries?: Array<[string, Node]>;
  items?: Node[];
  value?: string;
}

const scalar = fc.constantFrom(...SCALARS).map((value): Node => ({ kind: "scalar", value }));
const { tree } = fc.letrec<{ tree: Node; map: Node; seq: Node; flow: Node }>((tie) => ({
  tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("map"), tie("seq"), tie("flow")),
  map: fc.array(fc.tuple(fc.constantFrom(...KEYS_VOCAB), tie("tree")), { maxLength: 5 }).map((entries): Node => ({ kind: "map", entries })),
  seq: fc.array(tie("tree"), { maxLength: 4 }).map((items): Node => ({ kind: "seq", items })),
  flow: fc.array(fc.constantFrom(...SCALARS), { maxLength: 4 }).map((items): Node => ({ kind: "flow", items: items.map((value) => ({ kind: "scalar", value })) })),
}));

/** Render as block YAML; `quirk` sometimes nudges an indentation by one or two columns or uses a tab. */
function render(node: Node, indent: number, quirk: () => string): string {
  const pad = (n: number) => quirk() + " ".repeat(n);
  switch (node.kind) {
    case "scalar":
      return ` ${node.value}\n`;
    case "flow":
      return ` [${node.items!.map((i) => i.value).join(", ")}]\n`;
    case "map":
      if (node.entries!.length === 0) return " {}\n";
      return `\n${node.entries!.map(([k, v]) => `${pad(indent)}${k}:${render(v, indent + 2, quirk)}`).join("")}`;
    case "seq":
      if (node.items!.length === 0) return " []\n";
      return `\n${node.items!.map((v) => `${pad(indent)}-${render(v, indent + 2, quirk)}`).join("")}`;
  }
}

const yamlDoc = fc
  .tuple(tree, fc.array(fc.constantFrom("", "", "", "", " ", "  ", "\t", "-"), { minLength: 64, maxLength: 64 }), fc.boolean())
  .map(([t, quirks, versioned]) => {
    let i = 0;
    const quirk = () => quirks[i++ % quirks.length]!;
    const body = render(t, 0, quirk).replace(/^\n/, "");
    return versioned ? `version: 1\n${body}` : body;
  });

/** Line-level mutations of a real, valid policy: the inputs closest to what an SRE's typo produces. */
const mutatedValid = fc
  .tuple(
    fc.constantFrom(VALID, `${ENVS_AND_PRINCIPALS}rules:\n  - name: r\n    match: { environments: [production] }\n    allow: true\n`),
    fc.array(
      fc.record({
        op: fc.constantFrom("delete", "duplicate", "indent", "dedent", "tab", "insert", "truncate", "replace"),
        at: fc.nat(),
        text: fc.oneof(fc.constantFrom(...SCALARS), fc.constantFrom(...KEYS_VOCAB).map((k) => `${k}:`)),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([base, edits]) => {
    const lines = base.split("\n");
    for (const e of edits) {
      const i = e.at % lines.length;
      const line = lines[i]!;
      if (e.op === "delete") lines.splice(i, 1);
      else if (e.op === "duplicate") lines.splice(i, 0, line);
      else if (e.op === "indent") lines[i] = ` ${line}`;
      else if (e.op === "dedent") lines[i] = line.replace(/^ {1,2}/, "");
      else if (e.op === "tab") lines[i] = `\t${line}`;
      else if (e.op === "insert") lines.splice(i, 0, `${" ".repeat(e.at % 7)}${e.text}`);
      else if (e.op === "truncate") lines[i] = line.slice(0, e.at % (line.length + 1));
      else lines[i] = line.replace(/:\s.*$/, `: ${e.text}`);
      if (lines.length === 0) lines.push("");
    }
    return lines.join("\n");
  });

describe("parsePolicyFiles never throws and always locates what it refuses (property)", () => {
  it("P8/P9: any bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => void parseChecked(one(bytes))), { numRuns: 300 });
  });

  it("P9: any text, including controls, surrogates and bidi characters", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 1024 }), (text) => void parseChecked(one(text))), { numRuns: 300 });
  });

  it("P1–P7, P11: YAML-ish documents built from the policy's own vocabulary and its traps", () => {
    fc.assert(fc.property(yamlDoc, (text) => void parseChecked(one(text))), { numRuns: 300 });
  });

  it("P1, P2, P5, P6: a valid policy with random line-level edits", () => {
    fc.assert(fc.property(mutatedValid, (text) => void parseChecked(one(text))), { numRuns: 200 });
  });

  it("several files at once: every diagnostic names one of them", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(yamlDoc, mutatedValid), { minLength: 1, maxLength: 3 }), fc.boolean(), (texts, withTest) => {
        const files = texts.map((t, i) => ({ path: `policies/p${i}.yaml`, bytes: enc.encode(t) }));
        if (withTest) files.push({ path: "policies/p.test.yaml", bytes: enc.encode(texts[0]!) });
        parseChecked(files);
      }),
      { numRuns: 100 },
    );
  });

  it("the generators are not vacuous: some inputs parse to a policy, others are refused", () => {
    const samples = fc.sample(mutatedValid, { numRuns: 150, seed: 42 }).map((t) => parseChecked(one(t)));
    expect(samples.some((r) => r.policy !== undefined)).toBe(true);
    expect(samples.some((r) => r.policy === undefined)).toBe(true);
    const docs = fc.sample(yamlDoc, { numRuns: 300, seed: 42 }).map((t) => parseChecked(one(t)));
    expect(new Set(docs.flatMap((r) => r.diagnostics.map((d) => d.code))).size).toBeGreaterThan(5);
  });
});
