/**
 * Human renderings of plans, decisions and requests. Anything that came from someone else (argv, reasons,
 * names, evidence values, comments) goes through escapeForTerminal / quoteArgv before it is shown.
 */
import type { Style } from "../adapters/output.js";
import { escapeForTerminal, quoteArgv, suspiciousChars } from "../core/escape.js";
import { formatDuration } from "../core/duration.js";
import { renderVia } from "../core/request.js";
import type { Decision, Evidence, Requirement } from "../core/types.js";
import type { Plan } from "./plan.js";

export const esc = escapeForTerminal;

export function renderEvidence(evidence: readonly Evidence[]): string[] {
  if (evidence.length === 0) return ["(no detector matched)"];
  return evidence.map((e) => `${e.environment ? esc(e.environment) : "?"} ← ${esc(e.detail)}`);
}

/** A requirement in words; its rule and group names may come from a stored request, so they are escaped. */
export function renderRequirement(r: Requirement): string {
  const from = r.from ? ` from ${r.from.map(esc).join(" or ")}` : "";
  const extras = [r.reason ? "a reason" : "", r.confirm ? "typed confirmation" : "", r.preview ? `a preview${r.preview.recheck ? " (re-checked before the run)" : ""}` : ""].filter(Boolean);
  return `${r.approvals} approval${r.approvals === 1 ? "" : "s"}${from}${extras.length ? `, ${extras.join(", ")}` : ""}, valid ${formatDuration(r.ttlSeconds)} (rule ${esc(r.rule)})`;
}

export function decisionWord(d: Decision["decision"]): string {
  return d === "allow" ? "ALLOW" : d === "deny" ? "DENY" : "APPROVAL REQUIRED";
}

export function renderPlan(plan: Plan, c: Style): string[] {
  const d = plan.decision;
  const colour = d.decision === "allow" ? c.green.bold : d.decision === "deny" ? c.red.bold : c.yellow.bold;
  const lines = [
    `${colour(decisionWord(d.decision))}  ${quoteArgv(plan.typed)}`,
    `  program:     ${esc(plan.program.path)}`,
    ...(plan.program.via ? [`  run as:      ${renderVia(plan.program.via)}`] : []),
    `  target:      ${d.environment ? esc(d.environment) : c.red("undetermined")}${d.protected ? c.red(" (protected)") : ""}`,
    `  evidence:    ${renderEvidence(d.evidence).join("\n               ")}`,
    `  rules:       ${d.rules.length ? d.rules.map(esc).join(", ") : "(none matched)"}`,
  ];
  if (d.requirements.length) lines.push(`  requires:    ${d.requirements.map(renderRequirement).join("\n               ")}`);
  if (d.freezes.length) lines.push(`  freezes:     ${d.freezes.map(esc).join(", ")}`);
  for (const r of d.reasons) lines.push(`  ${c.red("reason:")}      ${esc(r)}`);
  const suspicious = plan.typed.flatMap((a) => suspiciousChars(a));
  if (suspicious.length) lines.push(`  ${c.yellow("warning:")}     the arguments contain ${[...new Set(suspicious)].join(", ")}`);
  return lines;
}

/** The unmissable banner shown before anything runs against a protected target. */
export function renderBanner(plan: Plan, c: Style): string[] {
  const env = (plan.decision.environment ?? "UNDETERMINED").toUpperCase();
  const title = ` ⚠  PROTECTED TARGET: ${esc(env)} `;
  const width = Math.max(title.length + 4, 60);
  const bar = "━".repeat(width);
  return [
    c.red.bold(bar),
    c.bgRed.white.bold(title.padEnd(width)),
    ...renderEvidence(plan.decision.evidence).map((l) => c.red(`   ${l}`)),
    c.red(`   command: ${quoteArgv(plan.typed)}`),
    c.red.bold(bar),
  ];
}
