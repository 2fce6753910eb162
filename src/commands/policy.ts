/** `guard policy lint | test | schema`. */
import type { CommonOptions } from "./options.js";
import { ExitCode, PolicyError, formatDiagnostic } from "../core/errors.js";
import { simulateTestCase } from "../core/simulate.js";
import { runPolicyTests } from "../core/policy/test-runner.js";
import { escapeForTerminal as esc } from "../core/escape.js";
import { colours, printJson, printStdout, stdoutStream } from "../adapters/output.js";
import { loadPolicyDir } from "../adapters/policy-files.js";
import { regexEngineFor } from "../adapters/linear-regex.js";
import { Context } from "./context.js";
import { resolve } from "node:path";
import type { Runtime } from "../runtime.js";

export async function lintCommand(opts: CommonOptions, rt: Runtime): Promise<void> {
  const ctx = await Context.create(rt, opts);
  const dir = resolve(ctx.cwd, ctx.settings.policyDir);
  const c = colours(stdoutStream());
  try {
    const { policy, warnings } = await loadPolicyDir(dir, { tests: true, cwd: ctx.cwd });
    if (opts.json) {
      printJson({ ok: true, dir, digest: policy.digest, errors: [], warnings });
    } else {
      for (const w of warnings) printStdout(`${c.yellow("⚠")} ${formatDiagnostic(w)}`);
      const people = Object.keys(policy.principals).length;
      printStdout(
        `${c.green("✔")} ${dir}: ${Object.keys(policy.environments).length} environments, ${people} principal${people === 1 ? "" : "s"}, ${policy.rules.length} rules, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}; digest ${policy.digest.slice(0, 16)}…`,
      );
      if (people === 1 && policy.rules.some((r) => r.effect.type === "require")) {
        printStdout(`  note: the policy names one person; no one else can approve a run yet: add a colleague's key under \`principals:\` (\`guard whoami\` prints theirs)`);
      }
    }
  } catch (err) {
    if (err instanceof PolicyError && opts.json) {
      printJson({
        ok: false,
        dir,
        errors: err.diagnostics.filter((d) => d.severity === "error"),
        warnings: err.diagnostics.filter((d) => d.severity === "warning"),
      });
      rt.exitCode = ExitCode.CONFIG;
      return;
    }
    throw err;
  }
}

export async function testCommand(opts: CommonOptions, rt: Runtime): Promise<void> {
  const ctx = await Context.create(rt, opts);
  const dir = resolve(ctx.cwd, ctx.settings.policyDir);
  const { policy, tests } = await loadPolicyDir(dir, { tests: true, cwd: ctx.cwd });
  // Policy tests are judged at the local clock: they touch no store, so there is no other clock here.
  const now = rt.now();
  const regex = await regexEngineFor(policy);
  const results = runPolicyTests(policy, tests, now, (p, tc, at) => simulateTestCase(p, tc, at, regex));
  const failed = results.filter((r) => !r.passed);
  if (opts.json) {
    printJson({ passed: results.length - failed.length, failed: failed.length, results });
  } else {
    const c = colours(stdoutStream());
    for (const r of results) {
      printStdout(`${r.passed ? c.green("✔") : c.red("✖")} ${esc(r.name)}`);
      if (!r.passed) for (const line of r.failures) printStdout(`    ${line}`);
    }
    if (results.length === 0) printStdout(c.yellow(`no policy tests found in ${dir} (*.test.yaml)`));
    printStdout(`${results.length - failed.length} passed, ${failed.length} failed`);
  }
  if (failed.length > 0 || results.length === 0) rt.exitCode = 1;
}

export async function schemaCommand(): Promise<void> {
  // zod and the schema are loaded only for this command.
  const { policyJsonSchema } = await import("../core/policy/schema.js");
  printJson(policyJsonSchema());
}
