/** What an approver (or `guard show`) sees of a request: everything the approval binds, escaped. */
import { localTime } from "../core/time.js";
import type { Style } from "../adapters/output.js";
import { asciiIdentifier, escapeForTerminal as esc, quoteArg, quoteArgv, suspiciousChars } from "../core/escape.js";
import { MAX_TEXT_BYTES } from "../core/file-args.js";
import { renderVia } from "../core/request.js";
import type { BoundFile, Credentials, Policy, PreviewResult, Requirement } from "../core/types.js";
import { formatDuration } from "../core/duration.js";
import { PREVIEW_MAX_BYTES } from "../core/preview.js";
import { renderEvidence, renderRequirement } from "./render.js";
import type { LoadedRequest } from "./request-lib.js";
import { renderRequestEnv, requestEnvJson } from "./env-view.js";

export function renderRequest(loaded: LoadedRequest, policy: Policy, c: Style): string[] {
  const req = loaded.signed.request;
  const a = loaded.assessment;
  const warn = (s: string): string => c.yellow.bold(s);
  const lines: string[] = [];
  lines.push(`${c.bold(`Request ${req.id}`)}  ${statusColour(a.status, c)(a.status.toUpperCase())}${req.breakGlass ? c.bgRed.white.bold(" BREAK-GLASS ") : ""}`);
  lines.push(`  target:       ${req.environment.protected ? c.red.bold(esc(req.environment.name)) : esc(req.environment.name)}${req.environment.protected ? c.red(" (protected)") : ""}`);
  lines.push(`  evidence:     ${renderEvidence(req.environment.evidence).join("\n                ")}`);
  const creds = policy.environments[req.environment.name]?.credentials;
  if (creds) lines.push(`  credentials:  ${renderCredentials(creds)}`);
  lines.push(`  command:      ${quoteArgv(req.argv)}`);
  lines.push(`  argv:         ${req.argv.map((x, i) => `[${i}] ${quoteArgv([x])}`).join("  ")}`);
  lines.push(`  program:      ${esc(req.program.path)}`);
  lines.push(`  sha256:       ${req.program.sha256}`);
  // A multi-call program (pg_wrapper, busybox) runs as the tool its link is named after: show the link.
  if (req.program.via) lines.push(`  run as:       ${renderVia(req.program.via)}`);
  lines.push(...renderFiles(req.files ?? [], c));
  lines.push(...renderPreviews(req.previews ?? [], req.requirements, c));
  lines.push(`  directory:    ${esc(req.cwd)}`);
  lines.push(`  stdin:        ${req.stdin.kind === "tty" ? "a terminal" : "empty (/dev/null)"}`);
  lines.push(...renderRequestEnv(req, c));
  lines.push(`  requester:    ${req.requester.principal ? asciiIdentifier(req.requester.principal) : c.red("(unregistered key)")}  key ${req.requester.fingerprint}`);
  lines.push(`  reason:       ${req.reason === null ? c.dim("(none given)") : `"${esc(req.reason)}"`}`);
  lines.push(`  rules:        ${req.rules.map(esc).join(", ") || "(none)"}`);
  for (const r of a.requirements) {
    lines.push(`  requires:     ${renderRequirement(r.requirement)}`);
    lines.push(`                approved by: ${r.approvedBy.map(asciiIdentifier).join(", ") || "nobody yet"}; eligible: ${r.eligible.map(asciiIdentifier).join(", ") || "nobody"}`);
  }
  lines.push(`  created:      ${localTime(req.createdAt)}   expires: ${localTime(req.expiresAt)}`);
  const policyLine = req.policyDigest === policy.digest ? c.green("matches your policy") : warn(`DIFFERS from your policy (${policy.digest.slice(0, 12)}…)`);
  lines.push(`  policy:       ${req.policyDigest.slice(0, 12)}… ${policyLine}`);
  for (const d of a.deniedBy) lines.push(`  ${c.red("denied by")}     ${asciiIdentifier(d.principal)}${d.comment ? `: "${esc(d.comment)}"` : ""}`);
  for (const p of a.acknowledgedBy) lines.push(`  reviewed by:  ${asciiIdentifier(p)}`);
  for (const i of a.ignored) lines.push(`  ${c.dim(`not counted:  ${asciiIdentifier(i.principal)} (${i.fingerprint}): ${esc(i.why)}`)}`);
  for (const p of a.problems) lines.push(`  ${c.red.bold("problem:")}      ${esc(p)}`);
  const viaText = req.program.via ? [req.program.via.path, ...req.program.via.links.flatMap((l) => [l.path, l.target])] : [];
  const fileText = (req.files ?? []).flatMap((f) => [f.path, ...(f.type === "file" && f.text !== undefined ? [f.text.replace(/[\n\t]/g, " ")] : [])]);
  const previewText = (req.previews ?? []).map((p) => p.output.replace(/[\n\t]/g, " "));
  const fromOthers = [
    ...req.argv,
    req.reason ?? "",
    req.cwd,
    req.program.path,
    ...viaText,
    ...fileText,
    ...previewText,
    ...Object.entries(req.env).flatMap(([k, v]) => [k, v.shown ?? ""]),
    ...req.environment.evidence.flatMap((e) => [e.subject, e.value, e.detail]),
    ...a.deniedBy.map((d) => d.comment ?? ""),
  ];
  const suspicious = [...new Set(fromOthers.flatMap((s) => suspiciousChars(s)))];
  if (suspicious.length) lines.push(warn(`  WARNING: this request contains ${suspicious.join(", ")} — shown escaped above; read it carefully`));
  return lines;
}

/**
 * The files the arguments name, as bound: path, size and SHA-256, and a small text file's content line by
 * line, each line escaped (a file can carry escape sequences meant for the approver's terminal).
 */
/**
 * What the run will be given under the policy in force (never a secret: the admin source is not named):
 * the approver learns the command connects with a per-run role of these grants, not with standing access.
 */
export function renderCredentials(creds: Credentials): string {
  if (creds.type === "postgres") {
    return `per-run PostgreSQL login role, member of ${creds.grant.map(esc).join(", ")}, in ${esc(creds.export)}, valid ${formatDuration(creds.ttlSeconds)}; dropped after the run`;
  }
  return `per-run credentials minted by ${quoteArgv(creds.run)}${creds.revoke ? `, revoked by ${quoteArgv(creds.revoke)} after the run` : " (no revoke command: they live until they expire)"}`;
}

export function renderFiles(files: readonly BoundFile[], c: Style): string[] {
  const lines: string[] = [];
  for (const f of files) {
    lines.push(`  file:         argv[${f.arg}] ${quoteArg(f.name)} → ${esc(f.path)}`);
    if (f.type === "directory") lines.push(`                ${c.yellow("a directory: bound by its name only — what is inside it is NOT bound")}`);
    else if (f.type === "null") lines.push("                the null device (nothing to bind)");
    else {
      lines.push(`                ${f.size} bytes, sha256 ${f.sha256}`);
      if (f.text === undefined) lines.push(`                ${c.dim(`content not shown (${f.size > MAX_TEXT_BYTES ? `over ${MAX_TEXT_BYTES} bytes` : "not UTF-8 text"}): bound by its SHA-256 above`)}`);
      else {
        const body = f.text.endsWith("\n") ? f.text.slice(0, -1) : f.text;
        lines.push(`                content${f.text.endsWith("\n") || f.text === "" ? "" : " (no newline at the end)"}:`);
        for (const line of body === "" && f.text === "" ? [] : body.split("\n")) lines.push(`                ${c.dim("|")} ${esc(line)}`);
      }
    }
  }
  return lines;
}

/** Each preview as it ran when the request was made: its command, status and every output line, escaped. */
export function renderPreviews(previews: readonly PreviewResult[], requirements: readonly Requirement[], c: Style): string[] {
  const lines: string[] = [];
  for (const p of previews) {
    const recheck = requirements.find((r) => r.rule === p.rule)?.preview?.recheck === true;
    lines.push(`  preview:      ${quoteArgv(p.argv)}  (rule ${esc(p.rule)}, exit ${p.exitCode}${recheck ? ", run again before the command and compared" : ""})`);
    const body = p.output.endsWith("\n") ? p.output.slice(0, -1) : p.output;
    for (const line of p.output === "" ? [] : body.split("\n")) lines.push(`                ${c.dim("|")} ${esc(line)}`);
    if (p.output === "") lines.push(`                ${c.dim("(no output)")}`);
    if (p.truncated) lines.push(`                ${c.yellow(`… output cut at ${PREVIEW_MAX_BYTES} bytes (64 KiB); the rest is not shown`)}`);
  }
  return lines;
}

function statusColour(status: string, c: Style): Style {
  return status === "approved" ? c.green.bold : status === "pending" ? c.yellow.bold : status === "consumed" ? c.blue.bold : c.red.bold;
}

/** The stable JSON request object: `id` and `status` first, the signed request, approvals and counts. */
export function requestJson(loaded: LoadedRequest): Record<string, unknown> {
  const req = loaded.signed.request;
  const a = loaded.assessment;
  return {
    id: req.id,
    status: a.status,
    environment: req.environment.name,
    argv: req.argv,
    env: requestEnvJson(req),
    requester: req.requester,
    reason: req.reason,
    createdAt: req.createdAt,
    expiresAt: req.expiresAt,
    breakGlass: req.breakGlass,
    valid: a.requestValid,
    problems: a.problems,
    requirements: a.requirements.map((r) => ({ ...r.requirement, approvedBy: r.approvedBy, needed: r.needed, met: r.met, eligible: r.eligible })),
    deniedBy: a.deniedBy,
    acknowledgedBy: a.acknowledgedBy,
    ignored: a.ignored,
    approvals: loaded.approvals.map((x) => x.statement),
    request: req,
    signature: loaded.signed.signature,
  };
}
