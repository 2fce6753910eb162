// The build: what `bin/guard.js` loads, in dist/.
//
//   dist/guard.cjs           all of guard's own code (and chalk) in one CommonJS file. One
//                            file is one read and one compilation; CommonJS starts faster than ES modules
//                            on Node 20, and bin/guard.js can give V8 a code cache for a plain script,
//                            which it cannot for a module (Node 20 has no module.enableCompileCache).
//   dist/vendor/<name>.cjs   yaml, zod, pg, @inquirer/prompts and commander, each bundled on its own.
//                            guard.cjs requires them only where they are used (yaml: a policy that is not
//                            cached; zod: `guard policy schema`; pg: a PostgreSQL store; prompts: a
//                            question at a terminal; commander: any command line but the plain
//                            `guard run … -- CMD`), so an allowed `guard run` loads none of them.
//   dist/audit-worker.cjs    the worker thread of a parallel `guard audit verify`.
//
// Dynamic import() is compiled to require() (no ES module loader on the start-up path, and nothing for
// the code-cached script to resolve), and the build refuses an output that still contains import().
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
// --no-minify: readable names in a CPU profile (node --cpu-prof bin/guard.js …).
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
  // import() becomes require(): everything guard loads is CommonJS it built itself.
  supported: { "dynamic-import": false },
  // pg's optional native binding is never used.
  external: ["pg-native"],
};

// In the CommonJS output, import.meta.url is the URL of the file the code ended up in.
const metaUrl = { define: { "import.meta.url": "__guardMeta.url" }, inject: [join(root, "scripts", "cjs-meta-url.js")] };

// guard's own code refers to the vendor packages by name; in the bundle, by their file.
const vendorExternal = {
  name: "vendor-external",
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(VENDOR).map((n) => n.replace(/[/.]/g, "\\$&")).join("|")})$`);
    b.onResolve({ filter }, (args) => ({ path: `./vendor/${VENDOR[args.path]}`, external: true }));
  },
};

// node:crypto, as guard's own code imports it, is loaded on first use instead (scripts/lazy-crypto.js).
const lazyCrypto = {
  name: "lazy-crypto",
  setup(b) {
    const shim = join(root, "scripts", "lazy-crypto.js");
    b.onResolve({ filter: /^(node:)?crypto$/ }, (args) => (args.importer === shim ? undefined : { path: shim }));
  },
};

// guard.cjs and the vendor files are each one function expression, the wrapper Node gives a CommonJS
// module: bin/guard.js compiles the text as it is (with a code cache; no concatenated copy for V8 to
// flatten) and calls it. Node itself could not load them with require().
const wrapped = { banner: { js: "(function (exports, require, module, __filename, __dirname) {" }, footer: { js: "})" } };

const builds = await Promise.all([
  ...Object.entries(VENDOR).map(([name, file]) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: root, loader: "js" },
      outfile: join(outdir, "vendor", file),
      sourcemap: false,
      ...wrapped,
      ...(name === "pg" ? { inject: [join(root, "scripts", "pg-navigator.js")] } : {}),
    }),
  ),
  build({ ...common, ...metaUrl, entryPoints: { "audit-worker": "src/adapters/store/audit-worker.ts" }, outdir, outExtension: { ".js": ".cjs" }, sourcemap: "linked" }),
  build({
    ...common,
    ...metaUrl,
    entryPoints: { guard: "src/main.ts" },
    outdir,
    outExtension: { ".js": ".cjs" },
    sourcemap: "linked",
    define: { ...metaUrl.define, __GUARD_VERSION__: JSON.stringify(pkg.version) },
    ...wrapped,
    plugins: [vendorExternal, lazyCrypto],
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
