// The build: what `bin/guard.js` requires, in dist/. Plain CommonJS files that Node loads with require().
//
//   dist/guard.cjs           all of guard's own code (and chalk) in one file: one read, one compilation.
//   dist/vendor/<name>.cjs   yaml, zod, pg, @inquirer/prompts and commander, each bundled on its own.
//                            guard.cjs requires them only where they are used (yaml: a policy that is not
//                            cached; zod: `guard policy schema`; pg: a PostgreSQL store; prompts: a
//                            question at a terminal; commander: any command line but the plain
//                            `guard run … -- CMD`), so an allowed `guard run` loads none of them.
//   dist/audit-worker.cjs    the worker thread of a parallel `guard audit verify`.
//
// The dependencies are bundled, not installed: they are devDependencies, the published package has no
// dependencies, and what `npm audit` checks in a checkout is exactly what the bundles were built from.
// The bundles are built from the same sources the unit tests run, with no substitutes; dynamic import()
// becomes require() (esbuild's CommonJS output), and the build refuses an output that still contains
// import(). No source maps: they would point at sources the package does not ship (`--no-minify` gives
// readable names for a CPU profile: node --cpu-prof bin/guard.js …).
//
// Outputs are written atomically (temporary file, then rename), vendor files before guard.cjs, and files
// this build did not write are removed only when they are old: a guard process that is running while
// the project is rebuilt (a test suite, a second terminal) keeps finding the vendor files it may need.
import { build } from "esbuild";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = join(root, "dist");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const minify = !process.argv.includes("--no-minify");

/** Third-party packages guard loads lazily, each bundled into dist/vendor/<file>. */
const VENDOR = { yaml: "yaml.cjs", zod: "zod.cjs", pg: "pg.cjs", "@inquirer/prompts": "prompts.cjs", commander: "commander.cjs", re2js: "re2js.cjs" };

const common = {
  absWorkingDir: root,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minify,
  keepNames: false,
  legalComments: "none",
  logLevel: "warning",
  write: false,
  sourcemap: false,
  // import() becomes require(): everything guard loads is CommonJS it built itself.
  supported: { "dynamic-import": false },
  // guard's sources read import.meta.url only where __filename is undefined (run from TypeScript).
  logOverride: { "empty-import-meta": "silent" },
  // pg's optional native binding is never used.
  external: ["pg-native"],
};

// guard's own code refers to the vendor packages by name; in the bundle, by their file.
const vendorExternal = {
  name: "vendor-external",
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(VENDOR).map((n) => n.replace(/[/.]/g, "\\$&")).join("|")})$`);
    b.onResolve({ filter }, (args) => ({ path: `./vendor/${VENDOR[args.path]}`, external: true }));
  },
};

const builds = await Promise.all([
  ...Object.entries(VENDOR).map(([name, file]) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: root, loader: "js" },
      outfile: join(outdir, "vendor", file),
    }),
  ),
  build({ ...common, entryPoints: { "audit-worker": "src/adapters/store/audit-worker.ts" }, outdir, outExtension: { ".js": ".cjs" } }),
  build({
    ...common,
    entryPoints: { guard: "src/main.ts" },
    outdir,
    outExtension: { ".js": ".cjs" },
    define: { __GUARD_VERSION__: JSON.stringify(pkg.version) },
    plugins: [vendorExternal],
  }),
]);

const entry = join(outdir, "guard.cjs");
const files = builds.flatMap((r) => r.outputFiles);
for (const f of files) {
  if (f.path.endsWith(".cjs") && /\bimport\(/.test(f.text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, ""))) {
    throw new Error(`build: ${relative(root, f.path)} still contains import(): guard's bundles must load everything with require()`);
  }
}
files.sort((a, b) => (a.path === entry ? 1 : 0) - (b.path === entry ? 1 : 0));
const written = new Set();
for (const f of files) {
  await mkdir(dirname(f.path), { recursive: true });
  const tmp = join(dirname(f.path), `.${basename(f.path)}.${process.pid}.tmp`);
  await writeFile(tmp, f.contents);
  await rename(tmp, f.path);
  written.add(f.path);
}
const staleAfterMs = 10 * 60_000;
async function sweep(dir) {
  for (const name of await readdir(dir).catch(() => [])) {
    const path = join(dir, name);
    if (written.has(path)) continue;
    const s = await stat(path).catch(() => null);
    if (!s) continue;
    if (s.isDirectory()) await sweep(path);
    else if (Date.now() - s.mtimeMs > staleAfterMs) await rm(path, { force: true });
  }
}
await sweep(outdir);
