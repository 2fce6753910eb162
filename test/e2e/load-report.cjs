// Preloaded into the built CLI by startup-loads.test.ts (node -r): at exit, write which of Node's
// built-in modules and which files Node loaded (bin/guard.js, dist/guard.cjs, dist/vendor/*.cjs) to
// $GUARD_TEST_LOAD_REPORT.
"use strict";
const out = process.env.GUARD_TEST_LOAD_REPORT;
delete process.env.GUARD_TEST_LOAD_REPORT;
process.on("exit", () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice("NativeModule ".length));
  require("node:fs").writeFileSync(out, JSON.stringify({ builtins, files: Object.keys(require.cache) }));
});
