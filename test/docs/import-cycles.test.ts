/**
 * The source tree has no import cycles (issue 16), type-only imports and dynamic import() included: a
 * cycle means two modules that cannot be understood, or loaded, one without the other. Resolution is
 * the project's own convention (relative specifiers ending in .js name the .ts file beside them), so a
 * regular expression over the sources is enough; the test also proves it finds a cycle when there is one.
 */
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "../e2e/world.js";

const SRC = join(ROOT, "src");
const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

function graph(files: readonly string[], read: (f: string) => string): Map<string, string[]> {
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const out: string[] = [];
    for (const m of read(file).matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
      if (known.has(target)) out.push(target);
    }
    edges.set(file, out);
  }
  return edges;
}

/** Every cycle's first appearance in a depth-first walk, as a list of files. */
function cycles(edges: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    stack.push(f);
    for (const next of edges.get(f) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of edges.keys()) if (!state.has(f)) visit(f);
  return found;
}

describe("import cycles", () => {
  it("src/ has none (type-only and dynamic imports count)", () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(50);
    const found = cycles(graph(files, (f) => readFileSync(f, "utf8"))).map((c) => c.map((f) => relative(SRC, f)).join(" → "));
    expect(found).toEqual([]);
  });

  it("the check finds a cycle when there is one, through type and dynamic imports", () => {
    const fake: Record<string, string> = {
      "/x/a.ts": 'import type { B } from "./b.js";\n',
      "/x/b.ts": 'const c = await import("./c.js");\n',
      "/x/c.ts": 'export { A } from "./a.js";\n',
      "/x/d.ts": 'import { a } from "./a.js";\n',
    };
    const found = cycles(graph(Object.keys(fake), (f) => fake[f]!));
    expect(found).toEqual([["/x/a.ts", "/x/b.ts", "/x/c.ts", "/x/a.ts"]]);
  });
});
