/**
 * `notifications:` in the policy loader: read as strictly as every other field (P-style located errors
 * for unknown fields, bad URLs, bad event names, out-of-range timeouts), with defaults applied, merged
 * across files with unique names, and never printing a webhook URL's secret parts.
 */
import { describe, expect, it } from "vitest";
import { SPECS } from "../../src/core/policy/fields.js";
import * as schema from "../../src/core/policy/schema.js";
import { redactUrl, webhookUrlProblem } from "../../src/core/policy/webhook-url.js";
import { NOTIFY_EVENTS } from "../../src/core/types.js";
import { VALID, codes, errors, located, parse, parseOne } from "../policy/helpers.js";

/** The line the appended notifications section starts on (VALID ends with a newline). */
const FIRST = VALID.split("\n").length;
const withHook = (hook: string): ReturnType<typeof parseOne> => parseOne(`${VALID}notifications:\n  webhooks:\n    - name: ops\n${hook}`);
const URL_LINE = FIRST + 3;

describe("a valid notifications section", () => {
  it("is read with its defaults: json, every event, any environment, 3s", () => {
    const r = withHook("      url: https://hooks.example.com/h\n");
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.notifications).toEqual({
      webhooks: [{ name: "ops", url: "https://hooks.example.com/h", format: "json", events: [...NOTIFY_EVENTS], environments: null, timeoutSeconds: 3, at: { file: "policies/guard.yaml", line: FIRST + 2, col: 13 } }],
    });
  });

  it("carries every field as written", () => {
    const r = withHook("      url: https://hooks.slack.com/services/T0/B0/XYZ\n      format: slack\n      events: [request.created, run.finished]\n      environments: [production, staging]\n      timeout: 10s\n");
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.notifications?.webhooks[0]).toMatchObject({ format: "slack", events: ["request.created", "run.finished"], environments: ["production", "staging"], timeoutSeconds: 10 });
  });

  it("a policy without the section has no notifications at all (nothing to load on the hot path)", () => {
    expect(parseOne(VALID).policy).not.toHaveProperty("notifications");
  });

  it("webhooks from several files are merged in file order", () => {
    const hook = (name: string) => `version: 1\nnotifications:\n  webhooks:\n    - { name: ${name}, url: "https://hooks.example.com/${name}" }\n`;
    const r = parse({ "policies/guard.yaml": VALID, "policies/b-hooks.yaml": hook("second"), "policies/a-hooks.yaml": hook("first") });
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.notifications?.webhooks.map((w) => w.name)).toEqual(["first", "second"]);
  });

  it.each([
    "https://user:hunter2@hooks.example.com/h?token=abc",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]:9000/",
    "HTTPS://hooks.example.com/h",
  ])("accepts %s", (url) => {
    expect(withHook(`      url: "${url}"\n`).diagnostics).toEqual([]);
  });
});

describe("every problem is a located error (exit 78 at run time)", () => {
  it.each<[string, string, string]>([
    ["an unknown field", "      url: https://h.example.com/\n      evnets: [run.started]\n", `unknown-field@${URL_LINE + 1}:7`],
    ["a missing url", "      format: json\n", `missing-field@${FIRST + 2}:7`],
    ["plain http to another host", "      url: http://hooks.example.com/h\n", `bad-webhook-url@${URL_LINE}:12`],
    ["a loopback look-alike host", "      url: http://127.0.0.1.evil.example/h\n", `bad-webhook-url@${URL_LINE}:12`],
    ["another scheme", "      url: ftp://hooks.example.com/h\n", `bad-webhook-url@${URL_LINE}:12`],
    ["a relative URL", "      url: hooks.example.com/h\n", `bad-webhook-url@${URL_LINE}:12`],
    ["a newline the URL parser would silently drop", '      url: "https://hooks.example.com/a\\nb"\n', `bad-webhook-url@${URL_LINE}:12`],
    ["a non-ASCII host", "      url: https://hоoks.example.com/\n", `bad-webhook-url@${URL_LINE}:12`],
    ["a URL that is not a string", "      url: [https://a]\n", `wrong-type@${URL_LINE}:12`],
    ["an unknown format", "      url: https://h.example.com/\n      format: xml\n", `bad-webhook-format@${URL_LINE + 1}:15`],
    ["a misspelled event", "      url: https://h.example.com/\n      events: [run.started, request_created]\n", `unknown-event@${URL_LINE + 1}:29`],
    ["an event listed twice", "      url: https://h.example.com/\n      events: [run.started, run.started]\n", `duplicate-event@${URL_LINE + 1}:29`],
    ["no events", "      url: https://h.example.com/\n      events: []\n", `empty-list@${URL_LINE + 1}:15`],
    ["an undefined environment", "      url: https://h.example.com/\n      environments: [qa]\n", `undefined-environment@${URL_LINE + 1}:22`],
    ["an alias for an environment", "      url: https://h.example.com/\n      environments: [prod]\n", `alias-not-name@${URL_LINE + 1}:22`],
    ["a timeout over 10s", "      url: https://h.example.com/\n      timeout: 30s\n", `out-of-range@${URL_LINE + 1}:16`],
    ["a zero timeout", "      url: https://h.example.com/\n      timeout: 0s\n", `out-of-range@${URL_LINE + 1}:16`],
    ["a timeout without a unit", "      url: https://h.example.com/\n      timeout: 3\n", `wrong-type@${URL_LINE + 1}:16`],
    ["a timeout in milliseconds", "      url: https://h.example.com/\n      timeout: 500ms\n", `bad-duration@${URL_LINE + 1}:16`],
    ["a bad webhook name", "      url: https://h.example.com/\n", ""],
  ])("%s", (_name, hook, expected) => {
    if (expected === "") {
      const r = parseOne(`${VALID}notifications:\n  webhooks:\n    - name: Ops Channel\n${hook}`);
      expect(codes(errors(r))).toEqual(["bad-name"]);
      return;
    }
    const r = withHook(hook);
    expect(located(errors(r))).toEqual([expected]);
    expect(r.policy).toBeUndefined();
  });

  it("an empty webhooks list, and a section without one", () => {
    expect(located(errors(parseOne(`${VALID}notifications:\n  webhooks: []\n`)))).toEqual([`empty-list@${FIRST + 1}:13`]);
    expect(located(errors(parseOne(`${VALID}notifications: {}\n`)))).toEqual([`missing-field@${FIRST}:16`]);
  });

  it("a misspelled event gets a suggestion", () => {
    const d = errors(withHook("      url: https://h.example.com/\n      events: [request_created]\n"))[0];
    expect(d?.hint).toBe("did you mean `request.created`?");
  });

  it("the same webhook name in two files is an error at both places", () => {
    const hook = "version: 1\nnotifications:\n  webhooks:\n    - { name: ops, url: \"https://hooks.example.com/x\" }\n";
    const r = parse({ "policies/guard.yaml": VALID, "policies/a.yaml": hook, "policies/b.yaml": hook });
    expect(errors(r).map((d) => `${d.code}@${d.file}:${d.line}`)).toEqual(["duplicate-definition@policies/a.yaml:4", "duplicate-definition@policies/b.yaml:4"]);
  });

  it("never prints the URL's secret parts (userinfo, path, query)", () => {
    const r = withHook('      url: "http://bot:hunter2@hooks.example.com/services/T0/B0/SECRETPATH?token=SECRETQUERY"\n');
    const text = JSON.stringify(r.diagnostics);
    expect(codes(errors(r))).toEqual(["bad-webhook-url"]);
    expect(text).toContain("http://…@hooks.example.com/…");
    expect(text).not.toMatch(/hunter2|bot|SECRETPATH|SECRETQUERY|services/);
  });
});

describe("webhook URLs", () => {
  it.each([
    ["https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/…"],
    ["https://u:p@example.com:8443/?q=1", "https://…@example.com:8443/…"],
    ["https://example.com", "https://example.com/"],
    ["not a url", "(unparseable URL)"],
  ])("redactUrl(%s) = %s", (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it.each([
    ["https://a.example/", null],
    ["http://a.example/", /plain http/],
    ["javascript:alert(1)", /scheme "javascript:"/],
    ["https://a.example/\t", /spaces, control/],
    [`https://a.example/${"x".repeat(2100)}`, /longer than 2048/],
  ])("webhookUrlProblem(%s)", (url, problem) => {
    const got = webhookUrlProblem(url);
    if (problem === null) expect(got).toBeNull();
    else expect(got).toMatch(problem);
  });
});

describe("the JSON Schema for editors", () => {
  it("has the notifications section the loader reads (its field table is generated from this schema)", () => {
    expect(Object.keys(schema.policyFileSchema.shape)).toContain("notifications");
    expect(SPECS.webhook.fields).toEqual(Object.keys(schema.webhookSchema.shape));
  });

  it("accepts a valid section and refuses what the loader refuses", () => {
    const ok = { version: 1, notifications: { webhooks: [{ name: "ops", url: "https://hooks.example.com/x", format: "slack", events: ["run.started"], environments: ["production"], timeout: "3s" }] } };
    expect(schema.policyFileSchema.safeParse(ok).success).toBe(true);
    const hook = ok.notifications.webhooks[0]!;
    for (const bad of [{ ...hook, url: "http://hooks.example.com/x" }, { ...hook, events: ["run.begun"] }, { ...hook, format: "xml" }, { ...hook, evnets: [] }]) {
      expect(schema.webhookSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
