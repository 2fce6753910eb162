// The build: what `bin/guard.js` requires, in dist/. Plain CommonJS files that Node loads with require().
//
//   dist/guard.cjs           the entry (main.ts), and the start-up chunk it requires: together, all the
//   dist/chunk-<hash>.cjs    code of guard's own an allowed `guard run … -- CMD` or a plain `guard check`
//                            can reach without import(). Those two files are all of guard's code such a
//                            run reads and compiles (test/e2e/startup-loads.test.ts holds it to that).
//                            Every other chunk holds code guard loads with import() where it is used:
//                            commander's command table and the other commands, the approval flow, the
//                            signer, the policy parser and validator (a policy that is not cached), the
//                            PostgreSQL store, credential minting, previews, notifications, GitHub
//                            annotations, completion… — each with what only it uses.
//   dist/vendor/<name>.cjs   yaml, zod, pg, @inquirer/prompts, commander and re2js, each bundled on its own,
//                            required only where they are used (yaml: a policy that is not cached; zod:
//                            `guard policy schema`; pg: a PostgreSQL store; prompts: a question at a
//                            terminal; commander: any command line but the plain run and check), so an
//                            allowed `guard run` loads none of them.
//   dist/audit-worker.cjs    the worker thread of a parallel `guard audit verify`.
//
// Why split: Node 20 has no compile cache and compiles every byte it loads on every start (the split
// halves what an allowed run compiles); on Node ≥ 22 the compile cache still has to be read and the
// modules initialised. The chunks are esbuild's code splitting, which links them (one instance of every
// module, live bindings) but works on ES modules only, and gives a chunk to every set of entry points
// that reach a module: left alone, the start-up code comes out in some twenty files, each a read, a
// compilation and a cache lookup. So every import() in the sources goes to a module generated here that
// imports every module of the start-up path and re-exports the target: all start-up code is then reached
// by every import() target alike, and lands in one chunk. Each chunk is then turned into CommonJS by
// esbuild too (import → require, import() → require(), export → getters on module.exports). Chunks
// require one another in one direction only (the entry and the import() chunks require the start-up
// chunk, which requires nothing of them but through import()), so nothing is read half-initialised.
//
// The dependencies are bundled, not installed: they are devDependencies, the published package has no
// dependencies, and what `npm audit` checks in a checkout is exactly what the bundles were built from.
// The bundles are built from the same sources the unit tests run, with no substitutes; dynamic import()
// becomes require() (esbuild's CommonJS output), and the build refuses an output that still contains
// import(). No source maps: they would point at sources the package does not ship (`--no-minify` gives
// readable names for a CPU profile: node --cpu-prof bin/guard.js …).
//
// Outputs are written atomically (temporary file, then rename), chunks and vendor files before
// guard.cjs, and files this build did not write are removed only when they are old: a guard process
// that is running while the project is rebuilt (a test suite, a second terminal) keeps finding the
// chunks and vendor files it may need (chunk names carry a hash of their content).
import { build } from "esbuild";
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
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

/**
 * Every import() in guard's sources goes to a module made here, which imports every module of the
 * start-up path and re-exports the target: see the header.
 */
function lazyTargets(targets, startup) {
  return {
    name: "lazy-targets",
    setup(b) {
      b.onResolve({ filter: /^\./ }, async (args) => {
        if (args.kind !== "dynamic-import" || args.namespace !== "file") return undefined;
        const r = await b.resolve(args.path, { kind: "import-statement", resolveDir: args.resolveDir, importer: args.importer });
        if (r.errors.length > 0 || r.external) return undefined;
        if (!targets.has(r.path)) throw new Error(`build: import(${JSON.stringify(args.path)}) in ${relative(root, args.importer)} was not found by the first pass`);
        return { path: r.path, namespace: "guard-lazy" };
      });
      b.onLoad({ filter: /.*/, namespace: "guard-lazy" }, (args) => ({
        contents: [...[...startup].sort().map((m) => `import ${JSON.stringify(m)};`), `export * from ${JSON.stringify(args.path)};`].join("\n"),
        resolveDir: dirname(args.path),
        loader: "js",
      }));
    },
  };
}

const guardOptions = {
  ...common,
  entryPoints: { guard: "src/main.ts" },
  outdir,
  define: { __GUARD_VERSION__: JSON.stringify(pkg.version) },
};

// First pass, from esbuild's own reading of the sources: which modules guard loads with import(), and
// which it loads on start-up (reached from main.ts by static imports; main.ts itself runs guard, so it
// is left out).
const scan = await build({ ...guardOptions, outExtension: { ".js": ".cjs" }, metafile: true, minify: false, plugins: [vendorExternal] });
const targets = new Set();
for (const input of Object.values(scan.metafile.inputs)) {
  for (const i of input.imports) if (i.kind === "dynamic-import" && !i.external) targets.add(resolve(root, i.path));
}
const startup = new Set();
for (const queue = ["src/main.ts"]; queue.length > 0; ) {
  const file = queue.pop();
  for (const i of scan.metafile.inputs[file]?.imports ?? []) {
    if (i.kind === "dynamic-import" || i.external || startup.has(resolve(root, i.path))) continue;
    startup.add(resolve(root, i.path));
    queue.push(i.path);
  }
}
startup.delete(resolve(root, "src/main.ts"));

// Second pass: the split, as ES modules (esbuild splits only those), then each chunk as CommonJS.
const split = await build({
  ...guardOptions,
  format: "esm",
  splitting: true,
  chunkNames: "chunk-[hash]",
  outExtension: { ".js": ".cjs" },
  supported: {},
  plugins: [vendorExternal, lazyTargets(targets, startup)],
});
// The chunks are converted where a package.json says "type": "module", so that esbuild reads them as
// Node reads ES modules (a CommonJS vendor file's module.exports is its default export).
const esmDir = await mkdtemp(join(tmpdir(), "guard-build-"));
let chunks;
try {
  await writeFile(join(esmDir, "package.json"), '{ "type": "module" }\n');
  const sources = [];
  for (const f of split.outputFiles) {
    const src = join(esmDir, basename(f.path).replace(/\.cjs$/, ".js"));
    await writeFile(src, f.contents);
    sources.push(src);
  }
  const { external: _external, ...convert } = common;
  chunks = await build({ ...convert, bundle: false, entryPoints: sources, outdir, outExtension: { ".js": ".cjs" } });
} finally {
  await rm(esmDir, { recursive: true, force: true });
}

const builds = await Promise.all([
  ...Object.entries(VENDOR).map(([name, file]) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: root, loader: "js" },
      outfile: join(outdir, "vendor", file),
    }),
  ),
  build({ ...common, entryPoints: { "audit-worker": "src/adapters/store/audit-worker.ts" }, outdir, outExtension: { ".js": ".cjs" } }),
]);
builds.push(chunks);

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
