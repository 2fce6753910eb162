// One esbuild bundle with code splitting: the start-up path loads only what it runs; prompts,
// PostgreSQL and the YAML/schema machinery are split into lazily imported chunks.
//
// Outputs are written atomically (temporary file, then rename), chunks before the entry point, and stale
// chunks are removed only when they are old: a guard process that is running while the project is rebuilt
// (a test suite, a second terminal) keeps finding the chunks its entry point refers to.
import { build } from "esbuild";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = join(root, "dist");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

const result = await build({
  absWorkingDir: root,
  entryPoints: { main: "src/main.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  minify: true,
  keepNames: false,
  legalComments: "none",
  logLevel: "warning",
  write: false,
  define: { __GUARD_VERSION__: JSON.stringify(pkg.version) },
  // pg's optional native binding is never used.
  external: ["pg-native"],
  banner: { js: "import { createRequire as __guardCreateRequire } from 'node:module'; const require = __guardCreateRequire(import.meta.url);" },
});

await mkdir(outdir, { recursive: true });
const entry = join(outdir, "main.js");
const files = [...result.outputFiles].sort((a, b) => (a.path === entry ? 1 : 0) - (b.path === entry ? 1 : 0));
const written = new Set();
for (const f of files) {
  await mkdir(dirname(f.path), { recursive: true });
  const tmp = join(dirname(f.path), `.${basename(f.path)}.${process.pid}.tmp`);
  await writeFile(tmp, f.contents);
  await rename(tmp, f.path);
  written.add(f.path);
}
const staleAfterMs = 10 * 60_000;
for (const name of await readdir(outdir)) {
  const path = join(outdir, name);
  if (written.has(path)) continue;
  const s = await stat(path).catch(() => null);
  if (s && Date.now() - s.mtimeMs > staleAfterMs) await rm(path, { force: true, recursive: true });
}
