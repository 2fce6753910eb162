import { describe, expect, it } from "vitest";
import {
  annotation,
  checkReport,
  escapeData,
  escapeProperty,
  gitHubReporter,
  markdownText,
  runReport,
  summaryMarkdown,
  workflowCommand,
  type CiReport,
  type PlanLike,
  type RequestLike,
} from "../../src/adapters/ci.js";
import type { Decision } from "../../src/core/types.js";
import { runnerCommands } from "./runner.js";

const HOSTILE = "INC-1\n::set-output name=approved::yes %0A ##[set-output name=approved;]yes <img src=x onerror=alert(1)> | x |\r::warning::y";

function decision(over: Partial<Decision> = {}): Decision {
  return {
    decision: "approval",
    environment: "production",
    protected: true,
    evidence: [{ source: "env", subject: "DATABASE_URL", value: "postgres://prod-db.internal/elb", environment: "production", detail: 'DATABASE_URL matches "*prod-db.*"' }],
    rules: ["purge-needs-an-sre"],
    requirements: [{ rule: "purge-needs-an-sre", approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 }],
    reasons: [],
    freezes: [],
    breakGlassAvailable: false,
    ...over,
  };
}

function request(reason: string | null): RequestLike {
  const d = decision();
  return {
    signed: {
      signature: "",
      request: {
        v: 1,
        id: "r-abcdefghijklmnopqrst",
        requester: { principal: "dave", fingerprint: "SHA256:x", key: "ssh-ed25519 AAAA" },
        argv: ["maintenance/purge.sh", "--all"],
        program: { path: "/p/maintenance/purge.sh", sha256: "0".repeat(64) },
        cwd: "/p",
        environment: { name: "production", protected: true, evidence: d.evidence },
        env: {},
        stdin: { kind: "null" },
        reason,
        policyDigest: "0".repeat(64),
        rules: d.rules,
        requirements: d.requirements,
        breakGlass: false,
        createdAt: "2026-06-01T12:00:00.000Z",
        expiresAt: "2026-06-01T12:30:00.000Z",
        nonce: "00",
      },
    },
    assessment: { status: "pending", requirements: [{ requirement: d.requirements[0]!, approvedBy: [], needed: 1, met: false, eligible: ["alice", "bob"] }] },
  };
}

/** Matches `chars` not escaped by a backslash (preceded by an even number of backslashes). */
const unescaped = (chars: string): RegExp => new RegExp(String.raw`(?<!\\)(?:\\\\)*[${chars}]`);
/** Cells of a Markdown table row, split only at unescaped pipes. */
const cells = (row: string): string[] => row.split(/(?<=(?:^|[^\\])(?:\\\\)*)\|/);

const plan = (d: Decision, argv = ["maintenance/purge.sh", "--all"]): PlanLike => ({ argv, decision: d });

describe("workflow-command escaping (as @actions/core and the runner define it)", () => {
  it.each([
    ["plain", "plain", "plain"],
    ["100%", "100%25", "100%25"],
    ["a\nb", "a%0Ab", "a%0Ab"],
    ["a\r\nb", "a%0D%0Ab", "a%0D%0Ab"],
    ["%0A", "%250A", "%250A"],
    ["k:v,w", "k:v,w", "k%3Av%2Cw"],
  ])("%j → data %j, property %j", (input, data, property) => {
    expect(escapeData(input)).toBe(data);
    expect(escapeProperty(input)).toBe(property);
  });

  it("T1/I3: no line break from anyone survives in a workflow command; guard's own become %0A", () => {
    const line = workflowCommand("error", { title: "guard: refused, really" }, [HOSTILE, "second line"]);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\r\n]/);
    const [cmd, ...rest] = runnerCommands(line);
    expect(rest).toEqual([]);
    expect(cmd!.name).toBe("error");
    expect(cmd!.props.title).toBe("guard: refused, really");
    // The hostile text reads as written (escaped for a terminal), on one line; %0A stays literal text;
    // its `##[` is shown as `#\x23[`, as everywhere guard writes (the runner logs an annotation as `##[error]…`).
    expect(cmd!.data.split("\n")).toEqual([HOSTILE.replace(/\n/g, "\\n").replace(/\r/g, "\\r").replaceAll("##[", "#\\x23["), "second line"]);
  });

  it("the runner model itself sees an injection where there is one (so the tests can fail)", () => {
    expect(runnerCommands("  ::set-output name=a::1").map((c) => c.name)).toEqual(["set-output"]);
    expect(runnerCommands("guard: reason ##[set-output name=a;]1").map((c) => [c.name, c.props.name, c.data])).toEqual([["set-output", "a", "1"]]);
    expect(runnerCommands("::stop-commands::t\n::warning::x\n##[warning]y\n::t::\n::warning::z").map((c) => c.name)).toEqual(["stop-commands", "(resume)", "warning"]);
  });
});

describe("Markdown escaping", () => {
  it.each([
    ["<img src=x onerror=alert(1)>", "<"],
    ["a | b", "|"],
    ["a \\| b", "|"],
    ["[x](javascript:alert(1))", "[\\]()"],
    ["&lt;script&gt;", "&"],
    ["`code` *em* _em_ # h", "`*_#"],
  ])("%j cannot form HTML, a link, a table cell or emphasis", (input, chars) => {
    expect(markdownText(input)).not.toMatch(unescaped(chars));
  });

  it("a line break cannot start a new block", () => {
    expect(markdownText("line\n## heading\r\n<div>")).not.toMatch(/[\r\n]/);
  });

  it("long text is cut with a count, never unbounded", () => {
    const out = markdownText("a".repeat(5000), 100);
    expect(out).toContain("4900 more characters");
    expect(out.length).toBeLessThan(200);
  });
});

describe("annotations", () => {
  const base: CiReport = { command: "run", exitCode: 77, status: "denied", argv: ["x"], decision: null, error: null, request: null };

  it.each<[string, CiReport, string | null]>([
    ["a refusal is an error titled guard refused", { ...base, error: { message: "refused: frozen", hint: "wait" } }, "::error title=guard refused::refused: frozen%0Await\n"],
    ["a policy error", { ...base, exitCode: 78, status: "config", error: { message: "policy invalid", hint: null } }, "::error title=guard%3A policy or configuration invalid::policy invalid\n"],
    ["a run that ran (even failing) is the command's business", { ...base, exitCode: 3, status: "ran" }, null],
    ["an allowed check says nothing", checkReport(plan(decision({ decision: "allow", requirements: [] })), 0), null],
  ])("%s", (_name, report, expected) => {
    expect(annotation(report)).toBe(expected);
  });

  it("a pending approval is a notice with the approve line", () => {
    const r = runReport({ plan: plan(decision()), request: request(HOSTILE) }, ["x"], "approval-needed", 75, new Error("approval pending"));
    const [cmd] = runnerCommands(annotation(r)!);
    expect(cmd!.name).toBe("notice");
    expect(cmd!.props.title).toBe("guard: approval needed");
    expect(cmd!.data).toContain("request r-abcdefghijklmnopqrst for maintenance/purge.sh --all is pending: approvals 0/1 from sre; eligible: alice, bob");
    expect(cmd!.data).toContain("guard approve r-abcdefghijklmnopqrst");
  });

  it("a denying check is an error with the first reason", () => {
    const r = checkReport(plan(decision({ decision: "deny", reasons: ["year-end freeze", "second"] })), 77);
    const [cmd] = runnerCommands(annotation(r)!);
    expect([cmd!.name, cmd!.props.title, cmd!.data]).toEqual(["error", "guard check: deny", "maintenance/purge.sh --all: year-end freeze"]);
  });
});

describe("step summary", () => {
  it("a pending approval shows target, evidence, rules, requirements, request id and the approve line", () => {
    const md = summaryMarkdown(runReport({ plan: plan(decision()), request: request("INC-4211 stale listeners") }, ["x"], "approval-needed", 75, null));
    expect(md).toContain("### guard run: approval needed");
    expect(md).toContain("| **exit code** | 75 |");
    expect(md).toContain("| **target** | production **(protected)** |");
    expect(md).toContain("| production | env | DATABASE\\_URL matches \\\"\\*prod\\-db\\.\\*\\\" |");
    expect(md).toContain("**Rules matched:** purge\\-needs\\-an\\-sre");
    expect(md).toContain("approved by: nobody yet; eligible: alice\\, bob");
    expect(md).toContain("```sh\nguard approve r-abcdefghijklmnopqrst\n```");
  });

  it("T1/T4: a hostile reason stays inside its table cell, with no HTML", () => {
    const md = summaryMarkdown(runReport({ plan: plan(decision()), request: request(HOSTILE) }, ["x"], "approval-needed", 75, null));
    const row = md.split("\n").find((l) => l.startsWith("| **reason** |"))!;
    expect(cells(row)).toHaveLength(4);
    expect(md).not.toMatch(unescaped("<"));
    expect(md.split("\n").some((l) => l.trimStart().startsWith("::"))).toBe(false);
  });

  it("issue 14: the preview and the bound files, escaped line by line, never leaving their quote", () => {
    const r = request(null);
    r.signed.request.previews = [{ rule: "purge", argv: ["x"], exitCode: 0, output: "would delete 12 rows\n<script>| ::error::x\n", truncated: false }];
    r.signed.request.files = [{ arg: 1, name: "--all", path: "/p/<b>all", type: "file", size: 3, sha256: "a".repeat(64) }];
    const md = summaryMarkdown(runReport({ request: r }, ["x"], "approval-needed", 75, null));
    expect(md).toContain("**Preview** (rule purge, exit 0)");
    expect(md).toContain("> would delete 12 rows  ");
    expect(md).toContain(`(3 bytes, sha256 ${"a".repeat(64)})`);
    expect(md).not.toMatch(unescaped("<"));
    expect(md.split("\n").some((l) => l.trimStart().startsWith("::"))).toBe(false);
  });

  it("a request id that is not an id never reaches the code block", () => {
    const r = request(null);
    r.signed.request.id = "r-x\n```\n<script>";
    const md = summaryMarkdown(runReport({ request: r }, ["x"], "approval-needed", 75, null));
    expect(md).not.toContain("```");
    expect(md).not.toContain("<script>");
  });
});

describe("I3: GitHub Actions is a format", () => {
  it("pause and resume use one unguessable token, and finish always resumes", async () => {
    const out: string[] = [];
    const gh = gitHubReporter({}, (s) => void out.push(s));
    gh.pause();
    gh.pause();
    await gh.finish({ command: "run", exitCode: 0, status: "ran", argv: ["x"], decision: null, error: null, request: null });
    gh.resume();
    expect(out).toHaveLength(2);
    const token = /^::stop-commands::([0-9a-f]{32})\n$/.exec(out[0]!)?.[1];
    expect(token).toBeDefined();
    expect(out[1]).toBe(`::${token}::\n`);
  });
});
