// `npm test`'s static checks: the type-check (tsc) and the lint (eslint) at the same time, one core each,
// instead of one after the other. Each one's output is printed whole when it ends; the exit status is
// non-zero when either fails.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const checks = [
  ["tsc", [join(root, "node_modules", "typescript", "bin", "tsc"), "--noEmit"]],
  ["eslint", [join(root, "node_modules", "eslint", "bin", "eslint.js"), "."]],
];

const results = await Promise.all(
  checks.map(
    ([name, args]) =>
      new Promise((resolve) => {
        const started = Date.now();
        const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.on("error", (err) => resolve({ name, code: 1, out: `${out}${err.message}\n`, ms: Date.now() - started }));
        child.on("close", (code, signal) => resolve({ name, code: code ?? 1, signal, out, ms: Date.now() - started }));
      }),
  ),
);

let failed = false;
for (const r of results) {
  process.stdout.write(r.out);
  const how = r.code === 0 ? "passed" : r.signal ? `was killed (${r.signal})` : `failed (exit ${r.code})`;
  process.stdout.write(`${r.name} ${how} in ${(r.ms / 1000).toFixed(1)} s\n`);
  if (r.code !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
