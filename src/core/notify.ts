/**
 * What a webhook is sent: which of the policy's webhooks want an event, and the payload in each format.
 * Pure: the adapter delivers, the commands gather the facts.
 *
 * Request text is hostile (T1, T2, T4). The JSON payload carries it JSON-encoded, byte for byte, for
 * machines. The Slack payload is read by people in a channel, so every piece of text that did not come
 * from guard itself is escaped: controls, bidi and invisible characters as on a terminal, then Slack's
 * own `&`, `<`, `>` (which is what stops `<!channel>`, `<@U…>` and `<https://evil|innocent>`), and the
 * bare broadcast words `@channel`/`@here`/`@everyone` lose their `@` to a visible look-alike. Free text
 * (argv, reason, comment) is set in code blocks, where `*`, `_`, `~` and backticks format nothing; names
 * (environment, principals) are policy names (`[a-z0-9_-]`, checked when a record is read).
 */
import { escapeForTerminal, quoteArgv } from "./escape.js";
import { formatDuration } from "./duration.js";
import type { GuardRequest, NotifyEvent, Notifications, RequestStatus, Webhook } from "./types.js";

/** Everything a notification says, gathered by the command that raises it. */
export interface NotificationFacts {
  event: NotifyEvent;
  request: GuardRequest;
  /** The request's status after the event. */
  status: RequestStatus;
  /** For request.approved / request.denied. */
  approver?: { principal: string; fingerprint: string; comment: string | null };
  /** For run.started (id only) and run.finished. */
  run?: { id: string; exitCode?: number; signal?: string | null; durationMs?: number };
  host: string;
  version: string;
  /** Epoch milliseconds. */
  time: number;
}

/** The webhooks of a policy that want `event` for a request against `environment`, in policy order. */
export function webhooksFor(notifications: Notifications | undefined, event: NotifyEvent, environment: string): Webhook[] {
  if (!notifications) return [];
  return notifications.webhooks.filter((w) => w.events.includes(event) && (w.environments === null || w.environments.includes(environment)));
}

/** The body to POST to `webhook` (to be JSON-encoded). */
export function payloadFor(webhook: Pick<Webhook, "format">, facts: NotificationFacts): unknown {
  return webhook.format === "slack" ? slackPayload(facts) : jsonPayload(facts);
}

export const approveCommandFor = (id: string): string => `guard approve ${id}`;

/** guard's generic payload: stable field names, raw (JSON-encoded) values. */
export function jsonPayload(f: NotificationFacts): Record<string, unknown> {
  const req = f.request;
  return {
    event: f.event,
    request: {
      id: req.id,
      environment: req.environment.name,
      argv: req.argv,
      requester: { principal: req.requester.principal, fingerprint: req.requester.fingerprint },
      reason: req.reason,
      status: f.status,
      expiresAt: req.expiresAt,
      breakGlass: req.breakGlass,
      // The preview the approvers will see, cut for a chat message (the full one is in `guard show`).
      ...(req.previews ? { previews: req.previews.map((p) => ({ rule: p.rule, exitCode: p.exitCode, output: cut(p.output, PREVIEW_PAYLOAD_CHARS), truncated: p.truncated || p.output.length > PREVIEW_PAYLOAD_CHARS })) } : {}),
    },
    ...(f.approver ? { approver: { principal: f.approver.principal, fingerprint: f.approver.fingerprint, comment: f.approver.comment } } : {}),
    ...(f.run ? { run: runJson(f.run) } : {}),
    ...(wantsApproveLine(f.event) ? { approveCommand: approveCommandFor(req.id) } : {}),
    guard: { host: f.host, version: f.version },
    time: new Date(f.time).toISOString(),
  };
}

/** How much of a preview's output a webhook carries. */
export const PREVIEW_PAYLOAD_CHARS = 2000;

function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max);
}

function runJson(run: NonNullable<NotificationFacts["run"]>): Record<string, unknown> {
  if (run.exitCode === undefined) return { id: run.id };
  return { id: run.id, exitCode: run.exitCode, signal: run.signal ?? null, durationMs: run.durationMs ?? null };
}

/** request.created asks for an approval; breakglass.used asks for the second person's review. */
const wantsApproveLine = (event: NotifyEvent): boolean => event === "request.created" || event === "breakglass.used";

// ---------------------------------------------------------------------------------------------
// Slack
// ---------------------------------------------------------------------------------------------

export interface SlackPayload {
  text: string;
  blocks: SlackBlock[];
}

export type SlackBlock =
  | { type: "section"; text: { type: "mrkdwn"; text: string } }
  | { type: "context"; elements: { type: "mrkdwn"; text: string }[] };

/** Slack refuses a section text over 3000 characters and a context element over 2000; stay below. */
const BUDGET = { line: 600, short: 300, argv: 2800, reason: 1500 } as const;

/** Broadcast mentions that some clients still expand when written bare (`link_names`). */
const BROADCAST = /@(channel|here|everyone)/gi;
const FULLWIDTH_AT = "\uFF20";

/**
 * `s` as safe Slack mrkdwn text: hidden characters escaped (a real backslash doubled, so escapes are
 * unambiguous), `&<>` as entities, bare broadcasts defused, cut to `max` characters with "…". In a code
 * block (`code`), a backtick is shown as \` so the text can never close the block it sits in.
 * `terminalSafe` text (quoteArgv's output) has had its hidden characters escaped already.
 */
export function slackEscape(s: string, max: number = BUDGET.line, opts: { code?: boolean; terminalSafe?: boolean } = {}): string {
  let out = "";
  for (const ch of s.replace(BROADCAST, `${FULLWIDTH_AT}$1`)) {
    let piece = opts.terminalSafe ? ch : escapeForTerminal(ch);
    if (piece === "&") piece = "&amp;";
    else if (piece === "<") piece = "&lt;";
    else if (piece === ">") piece = "&gt;";
    else if (piece === "`" && opts.code) piece = "\\`";
    if (out.length + piece.length > max - 1) return `${out}…`;
    out += piece;
  }
  return out;
}

const EVENT_TITLES: Record<NotifyEvent, string> = {
  "request.created": ":lock: *Approval needed*",
  "request.approved": ":white_check_mark: *Approved*",
  "request.denied": ":no_entry: *Denied*",
  "run.started": ":arrow_forward: *Run started*",
  "run.finished": ":checkered_flag: *Run finished*",
  "breakglass.used": ":rotating_light: *BREAK-GLASS*",
};

export function slackPayload(f: NotificationFacts): SlackPayload {
  const req = f.request;
  const id = slackEscape(req.id);
  const env = slackEscape(req.environment.name);
  const requester = slackEscape(req.requester.principal ?? "(unregistered key)");
  const approver = f.approver ? slackEscape(f.approver.principal) : "";
  const approve = `\`${slackEscape(approveCommandFor(req.id), BUDGET.line, { code: true })}\``;

  let headline: string;
  let text: string;
  switch (f.event) {
    case "request.created":
      headline = `${requester} asks to run a command against *${env}* (request \`${id}\`)`;
      text = `Approval needed: ${requester} asks to run a command against ${env}. To approve: ${approve}`;
      break;
    case "request.approved":
      headline = `${approver} approved request \`${id}\` of ${requester} against *${env}*; it is now ${f.status}`;
      text = `${approver} approved request ${id} (${env}); it is now ${f.status}`;
      break;
    case "request.denied":
      headline = `${approver} denied request \`${id}\` of ${requester} against *${env}*`;
      text = `${approver} denied request ${id} (${env})`;
      break;
    case "run.started":
      headline = `${requester} is running request \`${id}\` against *${env}*`;
      text = `${requester} is running request ${id} against ${env}`;
      break;
    case "run.finished": {
      const how = describeEnd(f.run);
      headline = `Request \`${id}\` of ${requester} against *${env}* finished: ${how}`;
      text = `Request ${id} against ${env} finished: ${how}`;
      break;
    }
    case "breakglass.used":
      headline = `${requester} broke glass: request \`${id}\` runs against *${env}* without approval`;
      text = `BREAK-GLASS: ${requester} runs request ${id} against ${env} without approval. A second person reviews it with: ${approve}`;
      break;
  }

  const blocks: SlackBlock[] = [
    section(`${EVENT_TITLES[f.event]}\n${headline}`),
    section(`*Command*\n\`\`\`${slackEscape(quoteArgv(req.argv), BUDGET.argv, { code: true, terminalSafe: true })}\`\`\``),
  ];
  // Free text from people sits in code blocks, like the command: Slack has no escape for `*`, `_`, `~`
  // and backticks, so outside a code block a reason could paint "*APPROVED*" in bold.
  if (req.reason !== null) blocks.push(section(`*Reason*\n\`\`\`${slackEscape(req.reason, BUDGET.reason, { code: true })}\`\`\``));
  for (const p of req.previews ?? []) {
    // At most 20 lines of 120 characters, each escaped on its own: within Slack's 3000 per section.
    const lines = p.output.replace(/\n$/, "").split("\n");
    const shown = lines.slice(0, 20).map((l) => slackEscape(l, 120, { code: true }));
    if (lines.length > 20 || p.truncated) shown.push("…");
    blocks.push(section(`*Preview* (rule ${slackEscape(p.rule, BUDGET.short)}, exit ${p.exitCode})\n\`\`\`${shown.join("\n")}\`\`\``));
  }
  if (f.approver?.comment) blocks.push(section(`*Comment from ${approver}*\n\`\`\`${slackEscape(f.approver.comment, BUDGET.reason, { code: true })}\`\`\``));
  if (wantsApproveLine(f.event)) blocks.push(section(`${f.event === "breakglass.used" ? "A second person reviews it with" : "To approve, run"}:\n${approve}`));
  const context = [
    `requester key ${slackEscape(req.requester.fingerprint, BUDGET.short)}`,
    `expires ${slackEscape(req.expiresAt, BUDGET.short)}`,
    `guard ${slackEscape(f.version, BUDGET.short)} on ${slackEscape(f.host, BUDGET.short)}`,
    new Date(f.time).toISOString(),
  ];
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: context.join(" · ") }] });
  return { text, blocks };
}

function section(text: string): SlackBlock {
  return { type: "section", text: { type: "mrkdwn", text } };
}

function describeEnd(run: NotificationFacts["run"]): string {
  if (!run || run.exitCode === undefined) return "unknown";
  const after = run.durationMs === undefined ? "" : ` after ${formatMs(run.durationMs)}`;
  return run.signal ? `ended by ${slackEscape(run.signal)} (exit ${run.exitCode})${after}` : `exit ${run.exitCode}${after}`;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return formatDuration(Math.round(ms / 1000));
}
