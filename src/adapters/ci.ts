/**
 * Reporting in GitHub Actions' own format: workflow-command annotations and a Markdown step summary.
 *
 * `GITHUB_ACTIONS=true` changes only HOW guard reports, never WHAT it decides (SECURITY I3): nothing in
 * this module is read by planning, evaluation or approval, and anyone can set the variable on a laptop.
 *
 * Stream: the runner parses workflow commands from BOTH stdout and stderr of a step (actions/runner
 * ScriptHandler hands each stream to its own OutputManager, which share one ActionCommandManager). Guard
 * writes on stderr, because its stdout belongs to the wrapped command and to `--json` reports.
 *
 * Injection: the runner treats a line as a command when it starts with `::` after leading white space,
 * or when it contains `##[` ANYWHERE (the legacy format). Guard's own messages show text that others
 * wrote — argv, evidence values, kube context names, approvers' comments — so while guard prints them,
 * command processing is paused with `::stop-commands::TOKEN` (an unguessable token) and resumed just
 * before the wrapped command starts and before guard's own annotations. The pause is per step (each
 * step's handler has its own command manager, shared by its two streams), so a guard killed while paused
 * mutes only the rest of its own step. Text inside annotations and the summary is escaped: terminal
 * escaping first (no newline survives), then the workflow-command or Markdown escaping.
 */
import { randomBytes } from "node:crypto";
import { constants, promises as fsp } from "node:fs";
import { escapeForTerminal, neutraliseWorkflowCommands, quoteArgv } from "../core/escape.js";
import { formatDuration } from "../core/duration.js";
import { isRequestId } from "../core/ids.js";
import type { Assessment } from "../core/approvals.js";
import type { Decision, Evidence, Requirement, SignedRequest } from "../core/types.js";
import { stderrStream } from "./output.js";


// ---------------------------------------------------------------------------------------------
// What a command reports
// ---------------------------------------------------------------------------------------------

/** The parts of a plan a report shows (commands' Plan satisfies it). */
export interface PlanLike {
  argv: readonly string[];
  decision: Decision;
}

/** The parts of a loaded request a report shows (commands' LoadedRequest satisfies it). */
export interface RequestLike {
  signed: SignedRequest;
  assessment: Pick<Assessment, "status" | "requirements">;
}

/** What `guard run` learned on its way, filled in as it goes; read only for reporting. */
export interface RunTrace {
  plan?: PlanLike;
  request?: RequestLike;
  /** A report will be made of this run (GitHub Actions): what it shows is gathered even for a quick refusal. */
  reported?: boolean;
  /** Called immediately before the wrapped command is executed. */
  beforeExec(): void;
}

export interface CiReport {
  command: "run" | "check";
  /** Guard's exit code, or the wrapped command's when it ran. */
  exitCode: number;
  /** "ran", guard's error code ("approval-needed", "denied", …), or for `check` the decision. */
  status: string;
  argv: readonly string[];
  /** null when guard stopped before it could decide (usage, policy or store errors). */
  decision: Decision | null;
  error: { message: string; hint: string | null } | null;
  request: RequestLike | null;
}

export function runReport(trace: Omit<RunTrace, "beforeExec">, argv: readonly string[], status: string, exitCode: number, error: unknown): CiReport {
  return {
    command: "run",
    exitCode,
    status,
    argv: trace.plan?.argv ?? trace.request?.signed.request.argv ?? argv,
    decision: trace.plan?.decision ?? null,
    error: errorPart(error),
    request: trace.request ?? null,
  };
}

export function checkReport(plan: PlanLike, exitCode: number): CiReport {
  return { command: "check", exitCode, status: plan.decision.decision, argv: plan.argv, decision: plan.decision, error: null, request: null };
}

function errorPart(error: unknown): CiReport["error"] {
  if (error === null || error === undefined) return null;
  if (error instanceof Error) {
    const hint = (error as { hint?: unknown }).hint;
    return { message: error.message, hint: typeof hint === "string" ? hint : null };
  }
  return { message: String(error), hint: null };
}

// ---------------------------------------------------------------------------------------------
// Workflow commands
// ---------------------------------------------------------------------------------------------

/** Escaping of a command's data (the message), as @actions/core does it: %, CR, LF. */
export function escapeData(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** Escaping of a command property value: also `:` and `,`, which separate properties. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

/**
 * One workflow command line. Each message line is terminal-escaped first, so no CR or LF from anyone
 * survives as such; guard's own line breaks become %0A (a multi-line annotation). Then, as everywhere
 * guard writes, no line of the message may start with `::` or hold `##[` (the runner shows an
 * annotation as a `##[error]…` log line, and its message lines would read as commands).
 */
export function workflowCommand(name: "error" | "warning" | "notice", props: Record<string, string>, lines: readonly string[]): string {
  const safe = (s: string): string => neutraliseWorkflowCommands(escapeForTerminal(s));
  const p = Object.entries(props).map(([k, v]) => `${k}=${escapeProperty(safe(v))}`).join(",");
  return `::${name}${p ? ` ${p}` : ""}::${escapeData(lines.map(safe).join("\n"))}\n`;
}

const ERROR_TITLES: Record<number, string> = {
  64: "guard: usage error",
  65: "guard: integrity failure",
  70: "guard: internal error",
  74: "guard: store or audit log unavailable",
  77: "guard refused",
  78: "guard: policy or configuration invalid",
  126: "guard: command not executable",
  127: "guard: command not found",
};

/** The annotation for a report, or null when there is nothing to flag (an allowed check, a run that ran). */
export function annotation(r: CiReport): string | null {
  const approveLines = (id: string): string[] => [`a colleague approves it with: guard approve ${id}`, "then re-run this job (an approval is used once), or give guard run --wait to wait for it"];
  if (r.exitCode === 75) {
    const title = r.command === "check" ? "guard check: approval required" : "guard: approval needed";
    if (r.request) {
      const id = r.request.signed.request.id;
      return workflowCommand("notice", { title }, [`request ${id} for ${quoteArgv(r.argv)} is ${r.request.assessment.status}: ${progressText(r.request)}`, ...approveLines(id)]);
    }
    if (r.command === "check") return workflowCommand("notice", { title }, [`${quoteArgv(r.argv)} against ${r.decision?.environment ?? "?"}: ${r.decision?.requirements.map(requirementText).join("; ") ?? ""}`]);
    return workflowCommand("notice", { title }, [r.error?.message ?? "approval needed", ...(r.error?.hint ? [r.error.hint] : [])]);
  }
  if (r.command === "run" && r.status === "ran") return null;
  if (r.command === "check") {
    if (r.decision?.decision !== "deny") return null;
    return workflowCommand("error", { title: "guard check: deny" }, [`${quoteArgv(r.argv)}: ${r.decision.reasons[0] ?? "denied by policy"}`]);
  }
  const title = ERROR_TITLES[r.exitCode] ?? "guard: error";
  const message = r.error?.message ?? r.decision?.reasons[0] ?? `exit ${r.exitCode}`;
  return workflowCommand("error", { title }, [message, ...(r.error?.hint ? [r.error.hint] : [])]);
}

function requirementText(q: Requirement): string {
  const from = q.from ? ` from ${q.from.join(" or ")}` : "";
  const extras = [q.reason ? "a reason" : "", q.confirm ? "typed confirmation" : ""].filter(Boolean);
  return `${q.approvals} approval${q.approvals === 1 ? "" : "s"}${from}${extras.length ? `, ${extras.join(", ")}` : ""}, valid ${formatDuration(q.ttlSeconds)} (rule ${q.rule})`;
}

function progressText(r: RequestLike): string {
  return r.assessment.requirements
    .map((p) => `approvals ${p.approvedBy.length}/${p.needed}${p.requirement.from ? ` from ${p.requirement.from.join(" or ")}` : ""}; eligible: ${p.eligible.join(", ") || "nobody"}`)
    .join("; ");
}

// ---------------------------------------------------------------------------------------------
// Step summary (GitHub-flavoured Markdown)
// ---------------------------------------------------------------------------------------------

const MAX_CELL = 300;

/**
 * Text from anyone as inert Markdown: terminal escaping (no line break, control or bidi character
 * survives), then every ASCII punctuation character backslash-escaped — CommonMark allows that for all
 * of them, so no HTML tag, entity, link, emphasis, heading or table pipe can form.
 */
export function markdownText(s: string, max = MAX_CELL): string {
  const chars = Array.from(escapeForTerminal(s));
  const cut = chars.length > max ? `${chars.slice(0, max).join("")}… (${chars.length - max} more characters)` : chars.join("");
  return cut.replace(/[!-/:-@[-`{-~]/g, (ch) => `\\${ch}`);
}

const OUTCOMES: Record<number, string> = {
  64: "usage error",
  65: "integrity failure",
  70: "internal error",
  74: "store or audit log unavailable",
  75: "approval needed",
  77: "refused",
  78: "policy or configuration invalid",
  126: "command not executable",
  127: "command not found",
};

function outcome(r: CiReport): string {
  if (r.command === "check") return r.decision ? { allow: "allow", deny: "deny", approval: "approval required" }[r.decision.decision] : OUTCOMES[r.exitCode] ?? "error";
  if (r.status === "ran") return `ran, exit ${r.exitCode}`;
  return OUTCOMES[r.exitCode] ?? "error";
}

export function summaryMarkdown(r: CiReport): string {
  const md = markdownText;
  const out: string[] = [`### guard ${r.command}: ${md(outcome(r))}`, "", "| | |", "|---|---|"];
  const row = (k: string, v: string): void => void out.push(`| **${k}** | ${v} |`);
  const d = r.decision;
  row("exit code", String(r.exitCode));
  if (d) {
    row("decision", md(d.decision));
    row("target", d.environment ? `${md(d.environment)}${d.protected ? " **(protected)**" : ""}` : "undetermined");
  }
  row("command", md(quoteArgv(r.argv), 1000));
  const req = r.request;
  if (req) {
    const q = req.signed.request;
    row("request", `${md(q.id)} — ${md(req.assessment.status)}, expires ${md(q.expiresAt)}`);
    row("requester", md(q.requester.principal ?? `(unregistered key) ${q.requester.fingerprint}`));
    row("reason", q.reason === null ? "(none given)" : md(q.reason));
  }
  if (r.error) row(r.status === "approval-needed" ? "status" : "refused because", md(r.error.message, 1000));
  const evidence: readonly Evidence[] = d?.evidence ?? req?.signed.request.environment.evidence ?? [];
  if (evidence.length) {
    out.push("", "**Evidence**", "", "| environment | source | detail |", "|---|---|---|");
    for (const e of evidence) out.push(`| ${e.environment ? md(e.environment) : "?"} | ${md(e.source)} | ${md(e.detail)} |`);
  }
  const rules = d?.rules ?? req?.signed.request.rules ?? [];
  if (rules.length) out.push("", `**Rules matched:** ${rules.map((x) => md(x)).join(", ")}`);
  if (req) {
    out.push("", "**Requirements**", "");
    for (const p of req.assessment.requirements) {
      out.push(`- ${md(requirementText(p.requirement))} — approved by: ${md(p.approvedBy.join(", ") || "nobody yet")}; eligible: ${md(p.eligible.join(", ") || "nobody")}`);
    }
  } else if (d?.requirements.length) {
    out.push("", "**Requirements**", "", ...d.requirements.map((q) => `- ${md(requirementText(q))}`));
  }
  const q = req?.signed.request;
  if (q?.files?.length) {
    out.push("", "**Files bound by content**", "");
    for (const f of q.files) out.push(`- argv\\[${f.arg}\\] ${md(f.name)} → ${md(f.path)}${f.type === "file" ? ` (${f.size} bytes, sha256 ${f.sha256})` : f.type === "directory" ? " (a directory: bound by name only)" : ""}`);
  }
  for (const p of q?.previews ?? []) {
    // The preview the approvers see (the first 40 lines here; `guard show` has all of it), line by line.
    const lines = p.output.replace(/\n$/, "").split("\n");
    out.push("", `**Preview** (rule ${md(p.rule)}, exit ${p.exitCode})`, "", ...lines.slice(0, 40).map((l) => `> ${md(l, 200)}  `));
    if (lines.length > 40 || p.truncated) out.push(`> … (cut; guard show ${md(q!.id)} shows the whole preview)`);
  }
  if (d && d.decision === "deny" && d.reasons.length) out.push("", "**Reasons**", "", ...d.reasons.map((x) => `- ${md(x)}`));
  if (req && r.exitCode === 75 && isRequestId(req.signed.request.id)) {
    const id = req.signed.request.id;
    out.push("", "**Next step:** a colleague reviews and approves this exact run:", "", "```sh", `guard approve ${id}`, "```", "");
    out.push("Then re-run this job (the approval is used once), or run `guard run --wait 30m …` so that the job waits for it.");
  }
  out.push("", "");
  return out.join("\n");
}

/**
 * Append to the file the runner created for this step. Never creates a file, never follows a symlink,
 * writes only to a regular file: the variable is the caller's to set, and a summary is not worth a
 * write anywhere else.
 */
export async function appendStepSummary(path: string, markdown: string): Promise<void> {
  // O_NONBLOCK: a FIFO named by the variable fails to open (ENXIO) when nobody reads it, instead of
  // holding guard until someone does.
  const handle = await fsp.open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw new Error("not a regular file");
    await handle.appendFile(markdown, "utf8");
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// A reporter for one command
// ---------------------------------------------------------------------------------------------

export interface GitHubReporter {
  /** Stop the runner from reading commands in what follows (guard's messages, which quote others). */
  pause(): void;
  /** Resume (idempotent): before the wrapped command runs, and before guard's own annotations. */
  resume(): void;
  /** Resume, annotate, append the summary. Never throws: reporting cannot change an outcome. */
  finish(report: CiReport): Promise<void>;
}

/**
 * `guard check` under Actions: its annotation and summary. Its report itself is on stdout (often
 * `--json` for a script), so no stop-commands marker is written there.
 */
export async function reportCheck(plan: PlanLike, exitCode: number, env: NodeJS.ProcessEnv): Promise<void> {
  await gitHubReporter(env).finish(checkReport(plan, exitCode));
}

export function gitHubReporter(env: NodeJS.ProcessEnv, write: (s: string) => void = (s) => void stderrStream().write(s)): GitHubReporter {
  let token: string | null = null;
  const resume = (): void => {
    if (token === null) return;
    write(`::${token}::\n`);
    token = null;
  };
  return {
    pause() {
      if (token !== null) return;
      token = randomBytes(16).toString("hex");
      write(`::stop-commands::${token}\n`);
    },
    resume,
    async finish(report) {
      resume();
      try {
        const line = annotation(report);
        if (line) write(line);
        const path = env.GITHUB_STEP_SUMMARY;
        if (path) await appendStepSummary(path, summaryMarkdown(report));
      } catch (err) {
        // Only a code, never the message: it would quote the path while commands are being read.
        const code = typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : "not a regular file";
        write(`guard: warning: the step summary could not be appended to the file GITHUB_STEP_SUMMARY names (${code.replace(/[^A-Za-z0-9 ]/g, "")}); the outcome is unchanged\n`);
      }
    },
  };
}
