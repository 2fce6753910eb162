import type { Diagnostic } from "../errors.js";
import type { RegexCompiler } from "../linear-regex.js";
import { FileDiagnostics, LineTable, diagnosticAt, sortDiagnostics } from "./diagnostics.js";
import { lintPolicy } from "./lint.js";
import { mergeFragments } from "./merge.js";
import { readPolicyFile, type FileFragment } from "./read-policy-file.js";
import { readTestFile, type TestCaseDef } from "./read-tests.js";
import { Reader } from "./reader.js";
import { isPolicyTestFile } from "./test-files.js";
import { checkCharacters, decodePolicyText } from "./text.js";
import type { ParsedPolicy, PolicyFile } from "./types.js";
import { readYaml } from "./yaml-read.js";

export { isPolicyTestFile };

/**
 * Parse and validate a policy directory's files (every `*.yaml` / `*.yml`; `*.test.yaml` are policy tests).
 * Every problem in every file is collected; `policy` is set only when there is no error. Warnings (lint)
 * are in `diagnostics` too. Test files given here are held to the same YAML rules and their errors count
 * (`guard policy test` and `lint` pass them; the loader leaves them out for every other command).
 *
 * Detector regexes are checked with `opts.regex` (the RE2 engine: adapters/linear-regex.ts loads it
 * for policy text that may name a regex).
 *
 * The digest binds what decides, not the bytes (./digest.ts): the validated model without descriptions,
 * source locations or the directory's location, so the same policy checked out anywhere, reformatted,
 * re-described or split across files differently has the same digest. Tests are not part of it.
 */
export function parsePolicyFiles(files: readonly PolicyFile[], root: string, opts: { regex?: RegexCompiler } = {}): ParsedPolicy {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const diagnostics: Diagnostic[] = [];
  const fragments: FileFragment[] = [];
  const testDefs: TestCaseDef[] = [];
  let policyFiles = 0;
  let allFilesRead = true;

  for (const file of sorted) {
    const isTest = isPolicyTestFile(file.path);
    if (!isTest) policyFiles++;
    const bytesSink = new FileDiagnostics(file.path, null);
    const text = decodePolicyText(file.bytes, bytesSink);
    if (text === null) {
      diagnostics.push(...bytesSink.list);
      if (!isTest) allFilesRead = false;
      continue;
    }
    const sink = new FileDiagnostics(file.path, new LineTable(text));
    checkCharacters(text, sink);
    const { root: node, badKeys } = readYaml(text, sink);
    // A file with YAML-level errors may be misread; whole-policy checks ("no rules") would mislead then.
    if (!isTest && sink.hasErrors) allFilesRead = false;
    if (node) {
      const reader = new Reader(sink, badKeys, opts.regex);
      if (isTest) testDefs.push(...readTestFile(node, reader));
      else fragments.push(readPolicyFile(node, reader, file.path));
    }
    diagnostics.push(...sink.list);
  }

  if (policyFiles === 0) {
    diagnostics.push(diagnosticAt("error", { file: sorted[0]?.path ?? "(policy)", line: 1, col: 1 }, "no-policy-files", "there are no policy files, only tests (or nothing at all)", "add a policy file such as `guard.yaml` (`guard init` creates one)"));
  }
  const merged = mergeFragments(fragments, root, { allFilesRead });
  diagnostics.push(...merged.diagnostics);

  const hasErrors = diagnostics.some((d) => d.severity === "error");
  if (!hasErrors) {
    diagnostics.push(...lintPolicy(merged.policy, merged.rules));
    diagnostics.push(...crossCheckTests(testDefs, merged.policy.environments, new Set(merged.policy.rules.map((r) => r.name))));
  }
  return {
    ...(hasErrors ? {} : { policy: merged.policy }),
    diagnostics: sortDiagnostics(diagnostics),
    tests: testDefs.map((d) => d.testCase),
  };
}

/** Tests that name environments or rules the policy does not have would fail anyway; say why up front. */
function crossCheckTests(defs: readonly TestCaseDef[], environments: Record<string, unknown>, rules: Set<string>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const def of defs) {
    const env = def.testCase.expect.environment;
    if (env !== undefined && def.environmentAt && !(env in environments)) {
      out.push(diagnosticAt("warning", def.environmentAt, "test-unknown-environment", `test expects environment \`${env}\`, which the policy does not define`, "use a canonical environment name from the policy"));
    }
    for (const ref of def.ruleRefs) {
      if (!rules.has(ref.name)) out.push(diagnosticAt("warning", ref.at, "test-unknown-rule", `test expects rule \`${ref.name}\`, which the policy does not define`, "use a rule name from the policy"));
    }
  }
  return out;
}
