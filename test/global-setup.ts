// The end-to-end tests spawn the built CLI as a user would: build it once before any test runs.
// A failed build is reported here and again by every end-to-end test (which then cannot find dist/).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  try {
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
  } catch {
    process.stderr.write("global-setup: the build failed; end-to-end tests will fail\n");
  }
}
