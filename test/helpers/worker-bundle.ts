import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { build, type BuildOptions } from "esbuild";

/**
 * guard's worker threads run dist/audit-worker.cjs, found beside the bundle that starts them
 * (scripts/build.mjs); run from the TypeScript sources there is none, and guard checks in its own thread.
 * A test of the parallel paths therefore bundles the sources it needs into `dir`, with the worker's own
 * bundle beside them as the build lays them out, and loads that. `exports`: for each module under src/,
 * the names to export from it.
 */
export async function bundleBesideWorker<T>(dir: string, name: string, exports: Record<string, readonly string[]>): Promise<T> {
  const src = (p: string): string => join(process.cwd(), "src", p);
  const entry = join(dir, `${name}.ts`);
  await writeFile(entry, Object.entries(exports).map(([p, names]) => `export { ${names.join(", ")} } from ${JSON.stringify(src(p))};`).join("\n"));
  const common: BuildOptions = { bundle: true, platform: "node", format: "cjs", target: "node20", logLevel: "warning", external: ["pg", "pg-native"] };
  await build({ ...common, entryPoints: [entry], outfile: join(dir, `${name}.cjs`) });
  await build({ ...common, entryPoints: [src("adapters/store/audit-worker.ts")], outfile: join(dir, "audit-worker.cjs") });
  return createRequire(import.meta.url)(join(dir, `${name}.cjs`)) as T;
}
