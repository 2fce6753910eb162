// Preloaded into the built CLI by startup-loads.test.ts (node -r): at exit, write which of Node's
// built-in modules, which files Node loaded, and which bundles bin/guard.js compiled (it runs
// dist/guard.cjs and dist/vendor/*.cjs as vm scripts) to $GUARD_TEST_LOAD_REPORT.
"use strict";
const vm = require("node:vm");
const out = process.env.GUARD_TEST_LOAD_REPORT;
delete process.env.GUARD_TEST_LOAD_REPORT;
const scripts = [];
const Script = vm.Script;
vm.Script = class extends Script {
  constructor(source, options) {
    if (options && typeof options.filename === "string") scripts.push(options.filename);
    super(source, options);
  }
};
process.on("exit", () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice("NativeModule ".length));
  require("node:fs").writeFileSync(out, JSON.stringify({ builtins, files: Object.keys(require.cache), scripts }));
});
