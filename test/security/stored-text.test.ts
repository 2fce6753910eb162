/**
 * T1, T2, T4, T5: text from the store, a policy or another person never reaches an output raw (issue 12,
 * items 3 and 8). The built CLI is run as people would run it — show, requests, approve, audit log,
 * check, run — with and without GITHUB_ACTIONS=true and a step summary, against requests whose every
 * free-text field is hostile; and against records a requester forged and re-signed with their own key
 * (ssh-keygen -Y sign, as an attacker with write access to the file store would). Each output is checked
 * for raw control, C1, bidi or invisible characters, and fed through a model of the Actions runner
 * (../ci/runner.ts) to prove that only guard's own workflow commands would be acted on. Webhook
 * payloads (JSON and Slack) are checked as received by a real HTTP server.
 *
 * Most calls run guard's command line in the test process (guardIn, through ./in-process-harness): the
 * same arguments, environment, store, keys and output checks, without a Node process each. The built CLI
 * still makes the first hostile request (H passing through a real process's argv and environment) and
 * runs its approved command under GitHub Actions (the argv reaching the command byte for byte), the
 * file's end-to-end flow.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFile, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeWorld, requestIdIn, standardPolicy, type GuardResult, type World } from "../e2e/world.js";
import { PURGE, addPurgeScript, guardRun } from "../fault/harness.js";
import { guardRunIn } from "./in-process-harness.js";
import { runnerCommands } from "../ci/runner.js";
import { sshKeygenSign } from "../helpers/keys.js";
import { startHookServer, type HookServer } from "../notify/hook-server.js";
import { approvalMessage, requestMessage } from "../../src/core/request.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import { parseAuthorizedKey } from "../../src/core/sshkey.js";
import { SIG_NAMESPACE, type SignedApproval, type SignedRequest } from "../../src/core/types.js";

/** Every trick at once: screen clear, OSC 8 link, C1 CSI, bidi, zero-width, BOM, separators, tags, workflow commands, Slack syntax. */
const H =
  "\x1b[2J\x1b[HCommand: ./report-lb-state.sh\n::error::pwned\r::warning::cr\n##[error]legacy ::stop-commands::abc " +
  "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \u009b2J \u202egnp.sh \u2066iso\u2069 a\u200bb\ufeff\u2028x \u{E0041}" +
  " <!channel> <@U123> <https://evil.example|status> @here *APPROVED* _it_ ~s~ `code`";

/** A character that must never reach an output raw (LF and TAB are layout; a hostile one is escaped as \n, \t). */
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]|[\u{E0000}-\u{E007F}]/u;

const PROD_URL = "postgres://app@prod-db.internal/elb";

let w: World;
let server: HookServer;

beforeAll(async () => {
  server = await startHookServer();
  w = await makeWorld({
    policy: (people) =>
      standardPolicy(
        people,
        `notifications:\n  webhooks:\n    - { name: json, url: "@@HOOKS@@/ok/json" }\n    - { name: slack, url: "@@HOOKS@@/ok/slack", format: slack }\n`,
      ),
  });
  const policyFile = join(w.dir, "policies", "guard.yaml");
  await writeFile(policyFile, (await readFile(policyFile, "utf8")).replaceAll("@@HOOKS@@", server.base));
  await addPurgeScript(w);
});
afterAll(async () => {
  await server?.close();
  await w?.cleanup();
});

/** No raw hidden character; the runner would act on nothing but guard's own commands; no `##[` at all. */
function expectInert(what: string, text: string): void {
  const m = RAW.exec(text);
  expect(m, `${what} printed a raw U+${m ? m[0].codePointAt(0)!.toString(16).padStart(4, "0") : ""}:\n${text}`).toBeNull();
  expect(text, `${what} printed a legacy workflow command`).not.toContain("##[");
  // The runner splits at CR too; a lone CR is already refused by RAW, this keeps the model honest.
  for (const cmd of runnerCommands(text.replace(/\r(?!\n)/g, "\n"))) {
    const own = cmd.name === "stop-commands" || cmd.name === "(resume)" || (["error", "warning", "notice"].includes(cmd.name) && (cmd.props.title ?? "").startsWith("guard"));
    expect(own, `${what}: the runner would act on ${JSON.stringify(cmd.line)}`).toBe(true);
  }
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (/^\s*::/.test(line)) expect(line, `${what}: a line-leading :: that is not guard's own`).toMatch(/^::(stop-commands::[0-9a-f]{32}|[0-9a-f]{32}::|(error|warning|notice) title=guard)/);
  }
}

function expectAllInert(what: string, r: GuardResult): void {
  expectInert(`${what} (stdout)`, r.stdout);
  expectInert(`${what} (stderr)`, r.stderr);
}

async function freshSummary(name: string): Promise<string> {
  const path = join(w.dir, `summary-${name}.md`);
  await writeFile(path, "");
  return path;
}

const ACTIONS = (summary: string): Record<string, string> => ({ GITHUB_ACTIONS: "true", CI: "true", GITHUB_STEP_SUMMARY: summary });

/** The run under both reporting modes: plain, and GitHub Actions with a step summary that is checked too. */
async function bothModes(what: string, args: string[], as: string, env: Record<string, string> = {}): Promise<GuardResult[]> {
  const plain = await guardRunIn(w, args, { as, env });
  expectAllInert(what, plain);
  const summary = await freshSummary(`${what.replace(/\W+/g, "-")}-${Date.now()}`);
  const ci = await guardRunIn(w, args, { as, env: { ...env, ...ACTIONS(summary) } });
  expectAllInert(`${what} under GitHub Actions`, ci);
  const md = await readFile(summary, "utf8");
  expectInert(`${what}: step summary`, md);
  // Markdown: no raw HTML tag, link or emphasis can form from the hostile text.
  // (markdownText backslash-escapes every ASCII punctuation character; an unescaped one would be live)
  expect(md).not.toMatch(/(?<!\\)<[a-z!@/]/i);
  expect(md).not.toMatch(/(?<!\\)\]\(/);
  expect(md).not.toMatch(/(?<!\\)\*APPROVED/);
  return [plain, ci];
}

/**
 * alice's hostile request: reason, arguments and the detected database URL all carry H. `builtCli`: made
 * by the built CLI, so that H reaches guard through a real process's argv and environment.
 */
async function hostileRequest(tag: string, builtCli = false): Promise<{ id: string; env: Record<string, string> }> {
  const env = { DATABASE_URL: `${PROD_URL}?application_name=${H}` };
  const asked = await (builtCli ? guardRun : guardRunIn)(w, ["run", "--confirm", "production", "--reason", H, "--", PURGE, tag, H, "::error::arg", "##[warning]arg"], { as: "alice", env });
  expectAllInert("run (asking)", asked);
  expect(asked.code, asked.stderr).toBe(75);
  return { id: requestIdIn(asked.stderr), env };
}

describe("T1/T2/T5: hostile text from another person, in every command and both output modes", () => {
  it("show, requests, approve --yes (with a hostile comment), audit log, check and run print it escaped; the approved run runs once", async () => {
    const tag = "--ticket=esc-1";
    const { id, env } = await hostileRequest(tag, true);

    const [show] = await bothModes("show", ["show", id], "bob");
    expect(show!.code, show!.stderr).toBe(0);
    expect(show!.stdout).toContain("\\x1b[2J\\x1b[HCommand: ./report-lb-state.sh\\n::error::pwned\\r::warning::cr\\n#\\x23[error]legacy");
    expect(show!.stdout).toMatch(/WARNING: this request contains .*ESCAPE.*RIGHT-TO-LEFT OVERRIDE/);
    await bothModes("show --json", ["show", id, "--json"], "bob");
    const json = await guardRunIn(w, ["show", id, "--json"], { as: "bob" });
    expect((JSON.parse(json.stdout) as { reason: string }).reason, "--json carries the exact value").toBe(H);

    const [list] = await bothModes("requests", ["requests"], "bob");
    expect(list!.stdout).toContain(id);
    await bothModes("requests --json", ["requests", "--json"], "bob");

    const approved = await guardRunIn(w, ["approve", id, "--yes", "--comment", H], { as: "bob" });
    expectAllInert("approve", approved);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stderr).toMatch(new RegExp(`approved ${id}`));

    // The approver's comment is another person's text too: shown to the requester escaped.
    const [afterApproval] = await bothModes("show (approved)", ["show", id], "alice");
    expect(afterApproval!.stdout).toContain("APPROVED");

    await bothModes("audit log", ["audit", "log"], "bob");
    await bothModes("audit log --json", ["audit", "log", "--json"], "bob");
    const [check] = await bothModes("check", ["check", "--", PURGE, tag, H], "alice", env);
    expect(check!.code).toBe(75);
    await bothModes("check --json", ["check", "--json", "--", PURGE, tag, H], "alice", env);

    // The run: guard's banner and messages quote the evidence and argv; the approval is used once.
    const summary = await freshSummary("run");
    // Through the built CLI: the approved argv, byte for byte, from a real guard process to its command.
    const ran = await guardRun(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { ...env, ...ACTIONS(summary) } });
    expectAllInert("run --request under GitHub Actions", ran);
    expectInert("run: step summary", await readFile(summary, "utf8"));
    expect(ran.code, ran.stderr).toBe(0);
    const ranLog = await readFile(join(w.dir, "ran.log"), "utf8");
    expect(ranLog.split(`${tag} ${H} ::error::arg ##[warning]arg\n`).length - 1, "the approved argv ran once, byte for byte").toBe(1);

    // And once more: refused (consumed), the refusal as inert as the rest.
    const again = await guardRunIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { ...env, ...ACTIONS(await freshSummary("again")) } });
    expectAllInert("run --request (replay)", again);
    expect(again.code).toBe(77);
  });

  it("T4: webhook payloads: JSON carries the exact values with no raw hidden byte or ##[; Slack shows the text escaped and inert", async () => {
    const { id } = await hostileRequest("--ticket=esc-hooks");
    await server.waitFor("/ok/slack", 1);
    const json = server.to("/ok/json").filter((r) => (r.json as { request?: { id?: string } }).request?.id === id);
    const slack = server.to("/ok/slack").filter((r) => r.body.includes(id));
    expect(json.length).toBeGreaterThan(0);
    expect(slack.length).toBeGreaterThan(0);
    for (const r of [...json, ...slack]) {
      expect(RAW.exec(r.body), `a raw hidden character in a webhook body`).toBeNull();
      expect(r.body).not.toContain("##[");
    }
    const body = json[0]!.json as { request: { reason: string; argv: string[] } };
    expect(body.request.reason, "the JSON payload keeps the exact value").toBe(H);
    expect(body.request.argv).toContain(H);
    for (const r of slack) {
      const texts = JSON.stringify(r.json);
      expect(texts).not.toMatch(/<[!@h]/);
      expect(texts).not.toMatch(/(?<!\uff20)@here/);
      // The reason sits in a code block: `*APPROVED*` cannot turn bold.
      expect(texts).toMatch(/\*Reason\*\\n```[^`]*\*APPROVED\*/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Forged records: the requester re-signs an edited copy of their own request with their own key
// ---------------------------------------------------------------------------------------------

async function readStored(id: string): Promise<SignedRequest> {
  return JSON.parse(await readFile(join(w.store, "requests", `${id}.json`), "utf8")) as SignedRequest;
}

/** Edit a stored request and re-sign it as `as` would with ssh-keygen -Y sign (the realistic attacker). */
async function forge(id: string, edit: (r: SignedRequest["request"]) => void, as = "alice"): Promise<void> {
  const signed = await readStored(id);
  edit(signed.request);
  const signature = await sshKeygenSign({ privatePath: w.people[as]!.key, namespace: SIG_NAMESPACE.request, message: requestMessage(signed.request) });
  await writeFile(join(w.store, "requests", `${id}.json`), `${JSON.stringify({ request: signed.request, signature }, null, 2)}\n`);
}

describe("forged records: stored names no policy could hold are malformed (65), and never shown raw", () => {
  it.each<[string, (r: SignedRequest["request"]) => void]>([
    ["T1: a requirement's rule", (r) => (r.requirements[0]!.rule = "\x1b[2J\x1b[Hreport-lb-state")],
    ["T1: a requirement's group (OSC 8 link)", (r) => (r.requirements[0]!.from = ["\x1b]8;;https://evil.example\x07sre\x1b]8;;\x07"])],
    ["T5: a rule named like a workflow command", (r) => (r.rules = ["::error::x", "##[error]y"])],
    ["T2: the environment with a bidi override", (r) => (r.environment.name = "prod\u202enoitcudorp")],
    ["T1: the requester principal", (r) => (r.requester.principal = "alice\x1b[2J")],
  ])("%s", async (_what, edit) => {
    const { id } = await hostileRequest(`--ticket=forged-${Math.random().toString(36).slice(2)}`);
    await forge(id, edit);
    for (const [what, args, as] of [
      ["show", ["show", id], "bob"],
      ["approve --yes", ["approve", id, "--yes"], "bob"],
    ] as const) {
      const [plain, ci] = await bothModes(what, [...args], as);
      for (const r of [plain!, ci!]) {
        expect(r.code, `${what}: ${r.stderr}`).toBe(65);
        expect(r.stderr).toMatch(/request record is malformed: (requirements\[0\]\.(rule|from\[0\])|rules\[0\]|environment\.name|requester\.principal)/);
      }
    }
    const run = await bothModes("run --request", ["run", "--request", id, "--confirm", "production"], "alice", { DATABASE_URL: PROD_URL });
    for (const r of run) expect(r.code, r.stderr).toBe(65);
    await bothModes("requests --all", ["requests", "--all"], "bob");
    expect(await approvalsOf(id)).toEqual([]);
    // One damaged record must not stop the rest of this suite (issue 12 item 7 is another change).
    await rm(join(w.store, "requests", `${id}.json`));
  });

  it("T1/T3: a forged approval record with a hostile principal and comment is not counted and is shown escaped", async () => {
    const { id } = await hostileRequest("--ticket=forged-approval");
    const req = (await readStored(id)).request;
    const statement = {
      v: 1 as const,
      requestId: id,
      requestDigest: sha256Hex(requestMessage(req)),
      decision: "approve" as const,
      principal: "\x1b[2J\x1b[H::error::bob",
      fingerprint: "",
      comment: H,
      createdAt: new Date().toISOString(),
      nonce: "ab".repeat(16),
    };
    // Signed by dave (a developer, not an SRE) with his own key, claiming a hostile name.
    const daveKey = parseAuthorizedKey(w.people.dave!.line);
    if (!daveKey.ok) throw new Error(daveKey.reason);
    statement.fingerprint = daveKey.key.fingerprint;
    const signature = await sshKeygenSign({ privatePath: w.people.dave!.key, namespace: SIG_NAMESPACE.approval, message: approvalMessage(statement) });
    const approval: SignedApproval = { statement, signature };
    const dir = join(w.store, "approvals", id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${sha256Hex(canonicalJson(approval))}.json`), `${JSON.stringify(approval, null, 2)}\n`);

    const [show] = await bothModes("show (forged approval)", ["show", id], "bob");
    expect(show!.code, show!.stderr).toBe(0);
    expect(show!.stdout).toMatch(/PENDING/);
    expect(show!.stdout).toMatch(/not counted: .*approval record is malformed: statement\.principal/);
    const run = await guardRunIn(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: { DATABASE_URL: `${PROD_URL}?application_name=${H}` } });
    expectAllInert("run (forged approval)", run);
    expect(run.code).toBe(75);
  });

  it("T1/T5: `guard audit log` escapes every field of a forged event (type, time, actor, decision, signal, reasons)", async () => {
    const forged = {
      seq: 999_999,
      time: "\x1b[2J::error::time",
      type: "##[error]type\x1b[31m",
      actor: { principal: "\u202eroot", fingerprint: null, user: "x" },
      data: { requestId: "\x1b]8;;https://evil\x07r", environment: "\u009b2J", decision: "\n::warning::decision", signal: "\r##[error]sig", exitCode: 0, reasons: [H], argv: [H] },
      prev: "0".repeat(64),
      hash: "f".repeat(64),
    };
    await appendFile(join(w.store, "audit", "events.jsonl"), `${JSON.stringify(forged)}\n`);
    // The forged event is the last of the log (--type takes only known types, so no filter is used).
    const [log] = await bothModes("audit log (forged event)", ["audit", "log"], "bob");
    expect(log!.code, log!.stderr).toBe(0);
    expect(log!.stdout).toContain("#\\x23[error]type\\x1b[31m");
    expect(log!.stdout).toContain("\\x1b[2J::error::time");
    expect(log!.stdout).toContain("signal=\\r#\\x23[error]sig");
    const [jsonLog] = await bothModes("audit log --json (forged event)", ["audit", "log", "--json"], "bob");
    const lines = jsonLog!.stdout.trim().split("\n");
    expect((JSON.parse(lines[lines.length - 1]!) as { type: string }).type, "--json keeps the exact value").toBe(forged.type);
  });
});

async function approvalsOf(id: string): Promise<string[]> {
  return readdir(join(w.store, "approvals", id)).catch(() => []);
}
