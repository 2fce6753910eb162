// The end-to-end tests spawn the built CLI as a user would: build it once before any test runs.
// A failed build is reported here and again by every end-to-end test (which then cannot find dist/).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Two projects name this file (vitest.config.ts) and vitest runs it for each: the first run builds.
const BUILT = Symbol.for("access-guard.test.built");

export default function setup(): void {
  const once = globalThis as { [BUILT]?: boolean };
  if (once[BUILT]) return;
  once[BUILT] = true;
  const root = fileURLToPath(new URL("..", import.meta.url));
  try {
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
  } catch {
    process.stderr.write("global-setup: the build failed; end-to-end tests will fail\n");
  }
}
