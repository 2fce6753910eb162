import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-control-regex": "off",
      "no-restricted-syntax": ["error", { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: "Take time as a parameter (core) or from the clock adapter." }],
    },
  },
  {
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "node:fs/promises",
              message: "Use `promises as fsp` from node:fs: importing node:fs/promises loads it at start-up (about 1 ms) in the one-file bundle, where `fsp.x` loads it on first use.",
            },
          ],
        },
      ],
    },
  },
  {
    // guard's stdout and stderr are made on first use and given their error handler then (output.ts).
    files: ["src/**/*.ts"],
    ignores: ["src/adapters/output.ts"],
    rules: {
      "no-restricted-properties": [
        "error",
        { object: "process", property: "stdout", message: "Use stdoutStream() from adapters/output.ts: it gives the stream its error handler." },
        { object: "process", property: "stderr", message: "Use stderrStream() from adapters/output.ts: it gives the stream its error handler." },
      ],
    },
  },
  {
    // src/runtime.ts is the clock adapter: the one object commands take the local time from.
    files: ["src/adapters/**", "src/commands/**", "src/runtime.ts", "test/**", "scripts/**", "bin/**"],
    rules: { "no-restricted-syntax": "off" },
  },
  {
    // Commands take the process they run in from their runtime (src/runtime.ts: ctx.rt): never from
    // `process`, the local clock or the host, so they run in process in tests (test/commands).
    files: ["src/commands/**/*.ts"],
    rules: {
      "no-restricted-globals": ["error", { name: "process", message: "Take it from the runtime (ctx.rt, src/runtime.ts)." }],
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "node:fs/promises", message: "Use `promises as fsp` from node:fs: importing node:fs/promises loads it at start-up (about 1 ms) in the one-file bundle, where `fsp.x` loads it on first use." },
            ...["node:os", "node:process", "node:crypto"].map((name) => ({ name, message: "Take it from the runtime (ctx.rt, src/runtime.ts): the host, the user, randomness." })),
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: "Decisions take the store's clock (ctx.now()); anything else the runtime's (ctx.rt.now())." },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: "Decisions take the store's clock (ctx.now()); anything else the runtime's (ctx.rt.now())." },
      ],
    },
  },
  {
    // The pure core: no file system, processes, host or network, no process globals and no clock. Its
    // inputs (time included) are parameters, so it is tested as tables.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: ["node:fs", "node:fs/promises", "node:child_process", "node:os", "node:net", "node:http", "node:https", "node:dgram", "node:worker_threads", "node:process", "node:readline", "node:tty"].map((name) => ({
            name,
            message: "src/core is pure: do the I/O in src/adapters and pass the result in.",
          })),
        },
      ],
      "no-restricted-globals": ["error", { name: "process", message: "src/core reads no process state: take it as a parameter." }],
      "no-restricted-syntax": [
        "error",
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: "src/core takes the time as a parameter." },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: "src/core takes the time as a parameter." },
      ],
    },
  },
  {
    // CommonJS: bin/guard.js (bin/package.json says so), the entry point that loads dist/guard.cjs, and
    // the test hooks preloaded into it with node -r.
    files: ["bin/**/*.js", "**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", __dirname: "readonly", module: "writable" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
