// One esbuild bundle with code splitting: the start-up path loads only what it runs;
// prompts, PostgreSQL and the YAML/schema machinery are split into lazily imported chunks.
import { build } from "esbuild";
import { rm } from "node:fs/promises";

await rm(new URL("../dist", import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { main: "src/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  minify: false,
  legalComments: "none",
  logLevel: "warning",
  // pg's optional native binding is never used.
  external: ["pg-native"],
  banner: { js: "import { createRequire as __guardCreateRequire } from 'node:module'; const require = __guardCreateRequire(import.meta.url);" },
});
