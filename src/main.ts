/**
 * Entry point of the real process: run guard's command line (entry.ts) with the process's runtime, then
 * exit with its code once guard's output has drained. Nothing else in the program calls process.exit.
 */
import { writeSync } from "node:fs";
import { ExitCode } from "./core/errors.js";
import { finishOutput } from "./adapters/output.js";
import { processRuntime } from "./runtime.js";
import { runGuard } from "./entry.js";

// Exit explicitly (a watcher or pool left open must never keep guard alive), but only once stdout and
// stderr have drained; a failure to write guard's own output (other than a reader that went away) makes
// guard exit 74, after the command has done what it was doing.
// The one place guard reads the process it runs in: everything below takes it from this runtime (runtime.ts).
void runGuard(processRuntime(), process.argv).then(async (code) => {
  const failure = await finishOutput();
  if (failure !== null && code === 0) {
    try {
      writeSync(2, `guard: could not write its output: ${failure.code ?? failure.message}\n`);
    } catch {
      // stderr itself is what failed
    }
    code = ExitCode.IO;
  }
  process.exit(code);
});
