// The floor every Node.js wrapper is measured against (PERFORMANCE.md): a bare ESM script that spawns
// its argv with inherited stdio and exits with the child's status. Nothing else: no policy, no store.
import { spawn } from "node:child_process";
import { constants } from "node:os";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node floor.mjs CMD [ARGS…]\n");
  process.exit(64);
}
const child = spawn(file, args, { stdio: "inherit" });
child.on("error", (err) => {
  process.stderr.write(`floor: ${err.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
