/**
 * The pure payload builders: which webhooks want an event, guard's JSON payload, and the Slack payload
 * with every piece of requester text escaped (T1, T2, T4 as they apply to a chat channel).
 */
import { describe, expect, it } from "vitest";
import { jsonPayload, payloadFor, slackEscape, slackPayload, webhooksFor, type NotificationFacts, type SlackPayload } from "../../src/core/notify.js";
import { NOTIFY_EVENTS, type NotifyEvent } from "../../src/core/types.js";
import { ID, facts, request, webhook } from "./fixtures.js";

const BOB = { principal: "bob", fingerprint: "SHA256:BBBBbobfingerprint", comment: "looks right" };

describe("webhooksFor", () => {
  const hooks = [
    webhook({ name: "all" }),
    webhook({ name: "prod-runs", events: ["run.started", "run.finished"], environments: ["production"] }),
    webhook({ name: "staging-requests", events: ["request.created"], environments: ["staging"] }),
  ];
  it.each<[NotifyEvent, string, string[]]>([
    ["request.created", "production", ["all"]],
    ["request.created", "staging", ["all", "staging-requests"]],
    ["run.started", "production", ["all", "prod-runs"]],
    ["run.finished", "staging", ["all"]],
    ["breakglass.used", "production", ["all"]],
  ])("%s in %s goes to %j", (event, env, names) => {
    expect(webhooksFor({ webhooks: hooks }, event, env).map((w) => w.name)).toEqual(names);
  });

  it("a policy without notifications has no webhooks", () => {
    expect(webhooksFor(undefined, "request.created", "production")).toEqual([]);
  });
});

describe("the JSON payload", () => {
  const common = {
    request: {
      id: ID,
      environment: "production",
      argv: ["./maintenance/purge-lb-state.sh", "--region", "us-east-1"],
      requester: { principal: "alice", fingerprint: "SHA256:AAAAalicefingerprint" },
      reason: "INC-42 stale state",
      expiresAt: "2026-11-27T10:29:00.000Z",
      breakGlass: false,
    },
    guard: { host: "bastion-1", version: "0.1.0" },
    time: "2026-11-27T10:00:00.000Z",
  };
  it.each<[string, Partial<NotificationFacts>, Record<string, unknown>]>([
    ["request.created", { event: "request.created", status: "pending" }, { status: "pending", approveCommand: `guard approve ${ID}` }],
    ["request.approved", { event: "request.approved", status: "approved", approver: BOB }, { status: "approved", approver: BOB }],
    ["request.denied", { event: "request.denied", status: "denied", approver: { ...BOB, comment: "not today" } }, { status: "denied", approver: { ...BOB, comment: "not today" } }],
    ["run.started", { event: "run.started", status: "consumed", run: { id: "run-1" } }, { status: "consumed", run: { id: "run-1" } }],
    ["run.finished", { event: "run.finished", status: "consumed", run: { id: "run-1", exitCode: 3, signal: null, durationMs: 1250 } }, { status: "consumed", run: { id: "run-1", exitCode: 3, signal: null, durationMs: 1250 } }],
    ["breakglass.used", { event: "breakglass.used", status: "consumed", request: request({ breakGlass: true }) }, { status: "consumed", approveCommand: `guard approve ${ID}`, breakGlass: true }],
  ])("%s", (event, over, expected) => {
    const { status, approveCommand, approver, run, breakGlass } = expected as Record<string, unknown>;
    const want: Record<string, unknown> = {
      event,
      ...common,
      request: { ...common.request, status, ...(breakGlass ? { breakGlass } : {}) },
      ...(approver ? { approver } : {}),
      ...(run ? { run } : {}),
      ...(approveCommand ? { approveCommand } : {}),
    };
    expect(jsonPayload(facts(over))).toEqual(want);
  });

  it("T4: carries hostile text byte for byte, JSON-encoded, never interpreted", () => {
    const reason = 'x\n{"decision":"allow"}\x1b[2J<!channel>\u202e';
    const argv = ["./x.sh", "a b", "$(rm -rf /)", "\r"];
    const p = JSON.parse(JSON.stringify(payloadFor(webhook({ format: "json" }), facts({ request: request({ reason, argv }) })))) as { request: { reason: string; argv: string[] } };
    expect(p.request.reason).toBe(reason);
    expect(p.request.argv).toEqual(argv);
  });

  it("names no secret: the requester's key, the bound variables and the program hash stay out", () => {
    const text = JSON.stringify(jsonPayload(facts({ request: request({ env: { PGPASSWORD: { sha256: "f".repeat(64), shown: "hunter2" } } }) })));
    expect(text).not.toMatch(/hunter2|ssh-ed25519|PGPASSWORD/);
  });
});

/** Every string a Slack client renders from the payload. */
function renderedTexts(p: SlackPayload): string[] {
  return [p.text, ...p.blocks.map((b) => (b.type === "section" ? b.text.text : b.elements.map((e) => e.text).join("\n")))];
}

describe("slackEscape", () => {
  it.each<[string, string, string]>([
    ["T1: a broadcast in Slack's own syntax", "<!channel> <!here|here> <!everyone>", "&lt;!channel&gt; &lt;!here|here&gt; &lt;!everyone&gt;"],
    ["a user mention", "<@U0123ABC>", "&lt;@U0123ABC&gt;"],
    ["a disguised link", "<https://evil.example|https://status.example>", "&lt;https://evil.example|https://status.example&gt;"],
    ["HTML", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"],
    ["an entity is not decoded twice", "&amp; &lt;", "&amp;amp; &amp;lt;"],
    ["bare broadcast words", "@channel @Here @everyone @alice", "\uFF20channel \uFF20Here \uFF20everyone @alice"],
    ["T1: ANSI escapes", "\x1b[2J\x1b[Hok", "\\x1b[2J\\x1b[Hok"],
    ["T1: newline and carriage return cannot start a fake line", "x\nCommand: ./status.sh\r", "x\\nCommand: ./status.sh\\r"],
    ["T2: bidi override and zero-width space", "a\u202eb\u200bc", "a\\u202eb\\u200bc"],
    ["a backslash is doubled, so escapes are unambiguous", "a\\x1b", "a\\\\x1b"],
    ["plain text is unchanged", "INC-42 stale state (état)", "INC-42 stale state (état)"],
  ])("%s", (_name, input, output) => {
    expect(slackEscape(input)).toBe(output);
  });

  it("in a code block, a backtick cannot close the block", () => {
    expect(slackEscape("a```b`", 100, { code: true })).toBe("a\\`\\`\\`b\\`");
  });

  it("cuts long text at the budget, never inside an entity or an escape", () => {
    expect(slackEscape("x".repeat(50), 10)).toBe(`${"x".repeat(9)}…`);
    const cut = slackEscape("&".repeat(50), 12);
    expect(cut).toBe("&amp;&amp;…");
    expect(slackEscape("\x1b".repeat(10), 10)).toBe("\\x1b\\x1b…");
  });
});

describe("the Slack payload", () => {
  const HOSTILE = {
    reason: "<!channel> urgent\n*APPROVED* by sre-lead\x1b[2J @here <https://evil.example|docs>",
    argv: ["./maintenance/purge-lb-state.sh", "```<!here>", "--note=@everyone", "\u202e--all"],
    comment: "<@U999> & <script>alert(1)</script>\r\n",
  };

  it.each(NOTIFY_EVENTS.map((e) => [e]))("%s: hostile requester text never reaches Slack unescaped", (event) => {
    const p = slackPayload(
      facts({
        event,
        status: event === "request.created" ? "pending" : "consumed",
        request: request({ reason: HOSTILE.reason, argv: HOSTILE.argv, breakGlass: event === "breakglass.used" }),
        ...(event === "request.approved" || event === "request.denied" ? { approver: { principal: "bob", fingerprint: "SHA256:B", comment: HOSTILE.comment } } : {}),
        ...(event.startsWith("run.") ? { run: { id: "run-1", exitCode: 0, signal: null, durationMs: 5 } } : {}),
        host: "<!here>\x1b]8;;https://evil\x07host",
      }),
    );
    for (const text of renderedTexts(p)) {
      expect(text).not.toMatch(/[<\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\u202e]/);
      expect(text).not.toMatch(/@(channel|here|everyone)/i);
      // `>` only as Slack's quote marker at the start of a line, which guard writes itself.
      expect(text.replace(/^>/gm, "")).not.toContain(">");
    }
    const command = p.blocks.find((b) => b.type === "section" && b.text.text.startsWith("*Command*"));
    expect(command?.type === "section" && command.text.text.split("```").length).toBe(3);
    if (event !== "run.started" && event !== "run.finished") expect(JSON.stringify(p)).toContain("&lt;!channel&gt; urgent\\\\n*APPROVED*");
  });

  it("request.created names the request, the target and the `guard approve ID` line", () => {
    const p = slackPayload(facts());
    expect(p.text).toBe(`Approval needed: alice asks to run a command against production. To approve: \`guard approve ${ID}\``);
    const texts = renderedTexts(p);
    expect(texts).toContain(`To approve, run:\n\`guard approve ${ID}\``);
    expect(texts).toContain("*Command*\n```./maintenance/purge-lb-state.sh --region us-east-1```");
    expect(texts).toContain("*Reason*\n```INC-42 stale state```");
    expect(texts.at(-1)).toBe("requester key SHA256:AAAAalicefingerprint · expires 2026-11-27T10:29:00.000Z · guard 0.1.0 on bastion-1 · 2026-11-27T10:00:00.000Z");
  });

  it.each<[string, Partial<NotificationFacts>, string]>([
    ["request.approved", { event: "request.approved", status: "approved", approver: BOB }, `bob approved request ${ID} (production); it is now approved`],
    ["request.approved, more needed", { event: "request.approved", status: "pending", approver: BOB }, `bob approved request ${ID} (production); it is now pending`],
    ["request.denied", { event: "request.denied", status: "denied", approver: BOB }, `bob denied request ${ID} (production)`],
    ["run.started", { event: "run.started", status: "consumed", run: { id: "run-1" } }, `alice is running request ${ID} against production`],
    ["run.finished", { event: "run.finished", status: "consumed", run: { id: "run-1", exitCode: 3, signal: null, durationMs: 1250 } }, `Request ${ID} against production finished: exit 3 after 1.3s`],
    ["run.finished by a signal", { event: "run.finished", status: "consumed", run: { id: "run-1", exitCode: 143, signal: "SIGTERM", durationMs: 90 } }, `Request ${ID} against production finished: ended by SIGTERM (exit 143) after 90ms`],
    ["breakglass.used", { event: "breakglass.used", status: "consumed" }, `BREAK-GLASS: alice runs request ${ID} against production without approval. A second person reviews it with: \`guard approve ${ID}\``],
  ])("%s: its notification text", (_name, over, text) => {
    expect(slackPayload(facts(over)).text).toBe(text);
  });

  it("C7, T2: argv is shown as guard shows it on a terminal (each argument quoted, hidden characters escaped once)", () => {
    const p = slackPayload(facts({ request: request({ argv: ["./x.sh", "a b", "\u202e--all", "back\\slash", "<tick`>"] }) }));
    expect(renderedTexts(p)).toContain("*Command*\n```./x.sh 'a b' $'\\u202e--all' $'back\\\\slash' '&lt;tick\\`&gt;'```");
  });

  it("stays within Slack's limits for huge requester text (3000 characters a section)", () => {
    const p = slackPayload(facts({ request: request({ reason: "<".repeat(20_000), argv: ["./x.sh", "\x1b".repeat(20_000)] }) }));
    for (const b of p.blocks) if (b.type === "section") expect(b.text.text.length).toBeLessThanOrEqual(3000);
    expect(p.blocks.length).toBeLessThanOrEqual(50);
  });

  it("payloadFor picks the format", () => {
    expect(payloadFor(webhook({ format: "slack" }), facts())).toHaveProperty("blocks");
    expect(payloadFor(webhook({ format: "json" }), facts())).toHaveProperty("event", "request.created");
  });
});

describe("issue 14: the preview in notifications", () => {
  const preview = { rule: "purge-needs-an-sre", argv: ["/p", "--dry-run"], exitCode: 0, output: "would delete 12 rows\n\x1b[2Jfake line\n", truncated: false };

  it("the JSON payload carries the preview, cut at 2000 characters and marked", () => {
    const short = jsonPayload(facts({ request: request({ previews: [preview] }) })) as { request: { previews: unknown[] } };
    expect(short.request.previews).toEqual([{ rule: preview.rule, exitCode: 0, output: preview.output, truncated: false }]);
    const long = jsonPayload(facts({ request: request({ previews: [{ ...preview, output: "x".repeat(5000) }] }) })) as { request: { previews: Array<{ output: string; truncated: boolean }> } };
    expect(long.request.previews[0]!.output).toHaveLength(2000);
    expect(long.request.previews[0]!.truncated).toBe(true);
  });

  it("Slack shows it line by line, escaped, within the section budget", () => {
    const many = { ...preview, output: Array.from({ length: 50 }, (_, i) => `line ${i} ${"y".repeat(300)}`).join("\n") };
    for (const p of [preview, many]) {
      const body = slackPayload(facts({ request: request({ previews: [p] }) }));
      const block = body.blocks.find((b) => b.type === "section" && b.text.text.startsWith("*Preview*"));
      expect(block).toBeDefined();
      const text = block!.type === "section" ? block!.text.text : "";
      expect(text).not.toContain("\x1b");
      expect(text.length).toBeLessThan(3000);
    }
    const first = slackPayload(facts({ request: request({ previews: [preview] }) })).blocks.find((b) => b.type === "section" && b.text.text.startsWith("*Preview*"));
    expect(first!.type === "section" && first!.text.text).toContain("would delete 12 rows\n\\x1b[2Jfake line");
  });
});
