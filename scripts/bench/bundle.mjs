// Guard's own modules for the bench's helpers (audit chaining, the stores, pg), bundled from src/ by
// esbuild into one temporary .mjs, so the bench uses exactly the code that the CLI runs.
import { build } from "esbuild";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export async function bundleGuardModules(repo, outDir) {
  const outfile = join(outDir, "guard-modules.mjs");
  const src = (p) => JSON.stringify(join(repo, "src", p));
  await build({
    stdin: {
      contents: [
        `export { chainEvent, auditHash, GENESIS } from ${src("core/audit.ts")};`,
        `export { canonicalJson } from ${src("core/canonical.ts")};`,
        `export { approvalMessage, requestMessage, requestDigest } from ${src("core/request.ts")};`,
        `export { encodeSshSig, signedData, verifySshSig } from ${src("core/sshsig.ts")};`,
        `export { parseAuthorizedKey } from ${src("core/sshkey.ts")};`,
        `export { SIG_NAMESPACE } from ${src("core/types.ts")};`,
        `export { openFileStore } from ${src("adapters/store/file.ts")};`,
        `export { openPostgresStore } from ${src("adapters/store/postgres.ts")};`,
        `export { default as pg } from "pg";`,
      ].join("\n"),
      resolveDir: repo,
      loader: "ts",
      sourcefile: "bench-entry.ts",
    },
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "error",
    external: ["pg-native"],
    banner: { js: "import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);" },
  });
  return { path: outfile, url: pathToFileURL(outfile).href };
}
