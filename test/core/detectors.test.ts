/**
 * "A new detector is one file" (issue 16): every module of src/core/detectors but the shared ones is a
 * registered kind, every registered kind has its module, and no other source file dispatches on a kind —
 * the rest of guard iterates the registry.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { DETECTORS, SIMULATED, kindOf, oneOf } from "../../src/core/detectors/registry.js";
import type { DetectorKind } from "../../src/core/detectors/kind.js";
import { SPECS } from "../../src/core/policy/fields.js";
import { detectorSchema } from "../../src/core/policy/schema.js";
import { detectTarget } from "../../src/core/detect.js";
import { simulate } from "../../src/core/simulate.js";
import { parse } from "../policy/helpers.js";

const ROOT = join(import.meta.dirname, "..", "..");
const DIR = join(ROOT, "src", "core", "detectors");
/** The modules every kind shares: the interface, the registry and value matching. */
const SHARED = ["kind.ts", "registry.ts", "values.ts"];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const isKind = (x: unknown): x is DetectorKind =>
  typeof x === "object" && x !== null && typeof (x as DetectorKind).type === "string" && typeof (x as DetectorKind).start === "function" && typeof (x as DetectorKind).read === "function";

describe("the detector registry", () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(".ts") && !SHARED.includes(f));

  it("has one module per kind: each module exports exactly one registered kind, and each kind has a module", async () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
    const found: DetectorKind[] = [];
    for (const f of files) {
      const mod = (await import(join(DIR, f))) as Record<string, unknown>;
      const kinds = Object.values(mod).filter(isKind);
      expect(kinds.length, `${f} exports one detector kind`).toBe(1);
      expect(DETECTORS, `${f}'s kind is in DETECTORS (src/core/detectors/registry.ts)`).toContain(kinds[0]);
      // The module is named after its kind: kube-context.ts holds `kube_context`.
      expect(basename(f, ".ts")).toBe(kinds[0]!.type.replace(/_/g, "-"));
      found.push(kinds[0]!);
    }
    expect(new Set(found)).toEqual(new Set(DETECTORS));
    expect(new Set(DETECTORS.map((k) => k.type)).size).toBe(DETECTORS.length);
  });

  it("the policy fields, the JSON Schema and the test-case fields come from the kinds", () => {
    for (const k of DETECTORS) {
      expect(SPECS.detector.fields).toContain(k.type);
      expect(kindOf(k.type)).toBe(k);
    }
    expect(detectorSchema.description).toBe(`One way to recognise the environment; exactly one of ${DETECTORS.map((k) => k.type).join(", ")}.`);
    for (const s of SIMULATED) expect(SPECS.testCase.fields).toContain(s.field);
    expect(oneOf(["`a`", "`b`", "`c`"])).toBe("`a`, `b` or `c`");
    expect(oneOf(["`a`"])).toBe("`a`");
  });

  it("a policy with no detector of some kinds names them all when a detector has none", () => {
    const r = parse({ "p.yaml": "version: 1\nenvironments:\n  production:\n    detect:\n      - equals: x\n" });
    const message = r.diagnostics.find((d) => d.code === "detector-kind")?.message;
    expect(message).toBe(`a detector needs one of ${oneOf(DETECTORS.map((k) => `\`${k.type}\``))}`);
  });

  it("every kind is read from YAML, detects through the registry and gives evidence of its own source", () => {
    const r = parse({
      "p.yaml": `version: 1
environments:
  production:
    detect:
      - env: DATABASE_URL
        matches: "*prod-db*"
      - kube_context: "prod-*"
      - host: "db1.*"
      - arg: --stage
        equals: live
      - argument: "*cluster=prod*"
rules:
  - name: anything
    match: {}
    allow: true
`,
    });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const policy = r.policy!;
    expect(policy.environments.production!.detect.map((d) => d.type)).toEqual(DETECTORS.map((k) => k.type));
    const d = detectTarget(policy, {
      args: ["--stage", "live", "cluster=prod-1"],
      env: { DATABASE_URL: "postgres://prod-db.internal/app" },
      host: "db1.example",
      kubeconfigs: [{ path: "/k", currentContext: "prod-eu" }],
    });
    expect(d.problems).toEqual([]);
    expect(d.environment).toBe("production");
    expect(new Set(d.evidence.map((e) => e.source))).toEqual(new Set(DETECTORS.map((k) => k.type)));
    // A policy test case simulates what the adapters would read (host name, kube context).
    const sim = simulate(policy, { argv: ["x"], env: {}, host: "db1.example", kubeContext: "prod-eu", now: 0 });
    expect(sim.environment).toBe("production");
    expect(sim.evidence.map((e) => e.source).sort()).toEqual(["host", "kube_context"]);
  });
});

describe("nothing outside src/core/detectors names a kind", () => {
  const files = sources(join(ROOT, "src")).filter((f) => !f.startsWith(`${DIR}/`));
  const dispatch = (type: string): RegExp =>
    new RegExp(`(?:\\b(?:type|source)\\s*[!=]==?\\s*|\\b(?:type|source)\\s*:\\s*|\\bcase\\s+)(["'\`])${type}\\1`);

  it.each(DETECTORS.map((k) => k.type))("no file compares or builds a `%s` detector or evidence", (type) => {
    const hits = files.filter((f) => dispatch(type).test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f));
    expect(hits).toEqual([]);
  });

  it("kinds whose name is no ordinary word appear nowhere else (kube.ts: kubectl's rules, which the kube_context kind uses; *.generated.ts: rendered from the kinds' schemas)", () => {
    const named = DETECTORS.map((k) => k.type).filter((t) => t.includes("_"));
    expect(named.length).toBeGreaterThan(0);
    const hits = files
      .filter((f) => relative(ROOT, f) !== join("src", "core", "kube.ts") && !f.endsWith(".generated.ts"))
      .filter((f) => named.some((t) => new RegExp(`\\b${t}\\b`).test(readFileSync(f, "utf8"))))
      .map((f) => relative(ROOT, f));
    expect(hits).toEqual([]);
  });

  it("the check sees a dispatch when there is one", () => {
    expect(dispatch("host").test('if (d.type === "host") x();')).toBe(true);
    expect(dispatch("kube_context").test("case 'kube_context':")).toBe(true);
    expect(dispatch("env").test('{ source: "env", subject }')).toBe(true);
    expect(dispatch("env").test('admin.kind === "env"')).toBe(false);
  });
});
