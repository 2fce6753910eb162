/**
 * `notifications:` in a policy file: webhooks to call when a request is created, approved or denied and
 * when a run starts or finishes. Read as strictly as every other field: a misspelled event name would
 * otherwise silently mean "never notified".
 */
import { NOTIFY_EVENTS, type NotifyEvent, type SourceLocation, type Webhook } from "../types.js";
import { isSeq } from "yaml";
import { SPECS } from "./fields.js";
import type { Ref } from "./ref.js";
import type { Field, Reader, YNode } from "./reader.js";
import { readDuration } from "./read-values.js";
import { webhookUrlProblem } from "./webhook-url.js";

export interface WebhookDef {
  webhook: Webhook;
  at: SourceLocation;
  /** `environments` as written, for the cross-file check that they exist. */
  environments: Ref[];
}

export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 3;
export const MIN_WEBHOOK_TIMEOUT_SECONDS = 1;
/** A run's guard waits for its webhooks after the command ends: never for long. */
export const MAX_WEBHOOK_TIMEOUT_SECONDS = 10;

export const WEBHOOK_FORMATS = ["json", "slack"] as const;

export function readNotifications(r: Reader, field: Field): WebhookDef[] {
  const map = r.mapping(field);
  if (!map) return [];
  const f = r.fields(map, SPECS.notifications);
  const hooks = f.get("webhooks");
  if (!hooks) return [];
  const out: WebhookDef[] = [];
  for (const item of r.objects(hooks) ?? []) {
    const def = readWebhook(r, item);
    if (def) out.push(def);
  }
  return out;
}

function readWebhook(r: Reader, node: YNode): WebhookDef | null {
  const map = r.map(node, "a webhook");
  if (!map) return null;
  const f = r.fields(map, SPECS.webhook);
  const nameF = f.get("name");
  const name = nameF ? r.text(nameF, "the webhook name") : null;
  const at = r.loc(nameF?.value ?? map);

  const urlF = f.get("url");
  let url = urlF ? r.text(urlF) : null;
  if (url !== null) {
    const problem = webhookUrlProblem(url);
    if (problem) {
      r.error(urlF!.value, "bad-webhook-url", `the \`url\` of webhook \`${name ?? "?"}\` ${problem}`, "give the full https URL the service gave you; plain http is for 127.0.0.1/localhost relays only");
      url = null;
    }
  }

  const formatF = f.get("format");
  const format = formatF ? (r.text(formatF, "`format`", { noun: "a webhook format", code: "bad-webhook-format" }) as Webhook["format"] | null) : "json";

  let events: NotifyEvent[] | null = [...NOTIFY_EVENTS];
  const eventsF = f.get("events");
  if (eventsF) events = readEvents(r, eventsF);

  let environments: Ref[] | null = null;
  let environmentsOk = true;
  const envF = f.get("environments");
  if (envF) {
    const items = r.list(envF, "`environments`", { item: "an environment name" });
    environments = items ? items.map((i) => ({ name: i.value, at: r.loc(i.node) })) : null;
    environmentsOk = items !== null;
  }

  const timeoutF = f.get("timeout");
  const timeout = timeoutF
    ? readDuration(r, timeoutF, MIN_WEBHOOK_TIMEOUT_SECONDS, MAX_WEBHOOK_TIMEOUT_SECONDS)
    : DEFAULT_WEBHOOK_TIMEOUT_SECONDS;

  if (name === null || url === null || format === null || events === null || !environmentsOk || timeout === null) return null;
  return {
    webhook: { name, url, format, events, environments: environments ? environments.map((e) => e.name) : null, timeoutSeconds: timeout, at },
    at,
    environments: environments ?? [],
  };
}

function readEvents(r: Reader, field: Field): NotifyEvent[] | null {
  const items = r.list(field, "`events`", { item: "event", noun: "a notification event", code: "unknown-event" });
  if (!items || !isSeq(field.value)) return null;
  const out: NotifyEvent[] = [];
  let ok = items.length === field.value.items.length;
  for (const { value, node: itemNode } of items) {
    if (out.includes(value as NotifyEvent)) {
      r.error(itemNode, "duplicate-event", `event \`${value}\` is listed twice`, "list each event once");
      ok = false;
      continue;
    }
    out.push(value as NotifyEvent);
  }
  return ok ? out : null;
}
