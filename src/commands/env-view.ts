/**
 * What an approver sees of a request's environment (C11, E13): the value of every consequential
 * variable (secrets redacted when the request was made), the name of every other variable the command
 * will receive, and the variables that may differ at run time. Everything here came from the store,
 * so every name and value is escaped.
 */
import type { Style } from "../adapters/output.js";
import { CUT_MARK, MAY_VARY } from "../core/bind-env.js";
import { escapeForTerminal as esc, suspiciousChars } from "../core/escape.js";
import type { GuardRequest } from "../core/types.js";

const INDENT = " ".repeat(16);
const WIDTH = 100;

interface EnvSummary {
  /** Consequential variables that are set: name → the value as shown (redacted). */
  shown: Record<string, string>;
  /** Set, passed to the command, bound by digest; value not shown. */
  nameOnly: string[];
  /** Consequential variables bound as unset: one that appears at run time refuses the run. */
  unset: string[];
}

function summarise(req: GuardRequest): EnvSummary {
  const out: EnvSummary = { shown: {}, nameOnly: [], unset: [] };
  for (const name of Object.keys(req.env).sort()) {
    const v = req.env[name]!;
    if (v.sha256 === null) out.unset.push(name);
    else if (v.shown === null) out.nameOnly.push(name);
    else out.shown[name] = v.shown;
  }
  return out;
}

/** Names joined by ", ", wrapped under the field column. */
function wrapNames(names: readonly string[]): string {
  const lines: string[] = [];
  let line = "";
  for (const n of names) {
    const item = esc(n);
    if (line !== "" && line.length + item.length + 2 > WIDTH - INDENT.length) {
      lines.push(`${line},`);
      line = item;
    } else line = line === "" ? item : `${line}, ${item}`;
  }
  if (line !== "") lines.push(line);
  return lines.join(`\n${INDENT}`);
}

/** The request's environment as lines of `guard show` / `guard approve`. */
export function renderRequestEnv(req: GuardRequest, c: Style): string[] {
  const s = summarise(req);
  const lines: string[] = [];
  const shown = Object.entries(s.shown);
  lines.push(`  environment:  ${shown.length ? shown.map(([k, v]) => `${esc(k)}=${esc(v)}`).join(`\n${INDENT}`) : c.dim("(no consequential variable is set)")}`);
  if (s.nameOnly.length) lines.push(`  also passed:  ${wrapNames(s.nameOnly)}`, `${INDENT}${c.dim("(values bound by SHA-256, not shown)")}`);
  lines.push(`  ${c.dim(`may vary:     ${wrapNames(Object.keys(MAY_VARY).filter((n) => !Object.hasOwn(req.env, n)))}`)}`);
  lines.push(`  ${c.dim(`${INDENT.slice(2)}(terminal, login session and CI attempt: passed as they are at run time; PWD is the directory`)}`);
  lines.push(`  ${c.dim(`${INDENT.slice(2)}above; any other variable that appears after approval is not passed)`)}`);
  const suspicious = [...new Set([...Object.keys(req.env), ...shown.map(([, v]) => v)].flatMap((x) => suspiciousChars(x)))];
  const cut = shown.filter(([, v]) => CUT_MARK.test(v)).map(([k]) => esc(k));
  if (cut.length) lines.push(c.yellow.bold(`  WARNING: ${cut.join(", ")} ${cut.length === 1 ? "is" : "are"} too long to show in full — ask the requester what ${cut.length === 1 ? "it holds" : "they hold"}, or deny`));
  if (suspicious.length) lines.push(c.yellow.bold(`  WARNING: the environment contains ${suspicious.join(", ")} — shown escaped above; read it carefully`));
  return lines;
}

/** The same for `--json`: stable field names. */
export function requestEnvJson(req: GuardRequest): Record<string, unknown> {
  const s = summarise(req);
  return { shown: s.shown, nameOnly: s.nameOnly, unset: s.unset, mayVary: Object.keys(MAY_VARY).filter((n) => !Object.hasOwn(req.env, n)) };
}
