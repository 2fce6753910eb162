// `npm test`: the type-check (tsc), the lint (eslint) and the tests (vitest run), at the same time.
//
// The tests mostly wait (on spawned guards, PostgreSQL, timeouts guard must honour), so they leave the
// cores idle now and then; tsc and eslint run alongside at a lower priority (nice 10) and use that idle
// time instead of 15 s of their own before the tests start. vitest's output streams as usual; tsc's and
// eslint's are printed whole after it. The exit status is non-zero when any of the three fails. Arguments
// go to vitest (`npm test -- test/e2e` runs the checks and that directory).
import { spawn } from "node:child_process";
import { setPriority } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (...p) => join(root, "node_modules", ...p);

// Node 20 reads NODE_EXTRA_CA_CERTS at every start, before any code runs: ~80 ms of CPU for a system
// bundle on this machine (Node 24 reads it only when TLS is first used). Every vitest worker
// process and every Node process a test starts with the inherited environment would pay it, and no test
// uses TLS to a server whose certificate needs it, so the checks and the tests run without it.
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

/** Run node with `args`; resolves with its exit status, its output (unless streamed) and its time. */
function run(name, args, { stream = false, nice = 0 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", stream ? "inherit" : "pipe", stream ? "inherit" : "pipe"] });
    if (nice !== 0 && child.pid !== undefined) {
      try {
        setPriority(child.pid, nice);
      } catch {
        // Only a little slower where a priority cannot be set.
      }
    }
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    const end = (code, signal, extra = "") => resolve({ name, code: code ?? 1, signal, out: out + extra, s: (Date.now() - started) / 1000 });
    child.on("error", (err) => end(1, null, `${err.message}\n`));
    child.on("close", (code, signal) => end(code, signal));
  });
}

// The type-check is TypeScript 7's native tsc (the devDependency `typescript-native`, an npm alias of
// typescript@7): ~2 s of CPU from nothing on one thread, where TypeScript 6's took ~17 s. TypeScript 6
// stays installed as `typescript` only because typescript-eslint's parser needs its JavaScript API, which
// TypeScript 7 does not have; eslint does not type-check. One thread (--singleThreaded): the tests need
// the cores more than tsc needs to finish sooner.
// Both keep what they found for unchanged files in node_modules/.cache/access-guard, so a second run checks
// only what changed: eslint takes ~16 s of CPU from nothing, ~2 s with nothing changed. A fresh checkout
// (CI) starts from nothing. eslint's cache is keyed by file contents, not times, which a checkout changes.
const cache = join(root, "node_modules", ".cache", "access-guard");
const checks = [
  run("tsc", [bin("typescript-native", "bin", "tsc"), "--noEmit", "--singleThreaded", "--incremental", "--tsBuildInfoFile", join(cache, "tsc.tsbuildinfo")], { nice: 10 }),
  run("eslint", [bin("eslint", "bin", "eslint.js"), "--cache", "--cache-strategy", "content", "--cache-location", join(cache, "eslint", "/"), "."], { nice: 10 }),
];
const tests = await run("vitest", [bin("vitest", "vitest.mjs"), "run", ...process.argv.slice(2)], { stream: true });
const results = [...(await Promise.all(checks)), tests];

for (const r of results) {
  process.stdout.write(r.out);
  const how = r.code === 0 ? "passed" : r.signal ? `was stopped (${r.signal})` : `failed (exit ${r.code})`;
  process.stdout.write(`${r.name} ${how} in ${r.s.toFixed(1)} s\n`);
}
process.exitCode = results.every((r) => r.code === 0) ? 0 : 1;
