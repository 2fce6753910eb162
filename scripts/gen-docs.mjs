// `npm run gen:docs`: writes what is generated from the one policy schema (src/core/policy/schema.ts):
// schema/policy.schema.json, schema/policy-test.schema.json, src/core/policy/fields.generated.ts (the
// loader's field table: field names, required fields, each field's type) and the policy reference table of README.md (between its policy-reference markers). The rendering is src/core/policy/generate.ts; test/policy/generated.test.ts
// fails when a committed output differs from it. The TypeScript is bundled with esbuild to a temporary
// module first, as the build does (Node does not run the sources).
import { build } from "esbuild";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = await mkdtemp(join(tmpdir(), "guard-gen-"));
try {
  const out = join(dir, "generate.mjs");
  await build({ absWorkingDir: root, entryPoints: ["src/core/policy/generate.ts"], bundle: true, format: "esm", platform: "node", outfile: out, logLevel: "warning" });
  const { generatedFiles, withPolicyReference } = await import(pathToFileURL(out).href);
  const readme = withPolicyReference(await readFile(join(root, "README.md"), "utf8"));
  if (readme === null) throw new Error("README.md has no <!-- policy-reference:start --> … <!-- policy-reference:end --> block");
  for (const [path, text] of Object.entries({ ...generatedFiles(), "README.md": readme })) {
    const file = join(root, path);
    const old = await readFile(file, "utf8").catch(() => null);
    if (old === text) continue;
    await writeFile(file, text);
    console.log(`wrote ${path}`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
