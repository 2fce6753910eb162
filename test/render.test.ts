import { describe, expect, it } from "vitest";
import { renderRequirement } from "../src/commands/render.js";
import { annotation, summaryMarkdown, workflowCommand, type CiReport } from "../src/adapters/ci.js";
import type { Decision, Requirement } from "../src/core/types.js";

/**
 * Issue 12 item 3: a requirement's rule and groups can come from a stored request (a claim anyone who
 * can write the store can make), so every rendering escapes them — on a terminal, in an annotation and
 * in the step summary — even though the shape check already refuses names no policy could hold.
 */
const HOSTILE: Requirement = {
  rule: "\x1b[2J\x1b[Hreport ##[error]x",
  approvals: 1,
  from: ["\x1b]8;;https://evil\x07sre\x1b]8;;\x07", "db\u202ea"],
  reason: true,
  confirm: false,
  ttlSeconds: 1800,
};

describe("T1/T5: requirement text is escaped wherever it is rendered", () => {
  it("renderRequirement (show, approve, check)", () => {
    const text = renderRequirement(HOSTILE);
    expect(text).toBe("1 approval from \\x1b]8;;https://evil\\x07sre\\x1b]8;;\\x07 or db\\u202ea, a reason, valid 30m (rule \\x1b[2J\\x1b[Hreport ##[error]x)");
    expect(text).not.toMatch(/[\x1b\x07\u202e]/);
  });

  it("a workflow command's message and properties never hold ##[ or a line-leading ::", () => {
    const line = workflowCommand("error", { title: "guard ##[x]" }, ["a ##[error]b", "::warning::c", "  ::notice::d"]);
    expect(line).not.toContain("##[");
    expect(line.split("\n").filter(Boolean)).toHaveLength(1);
    expect(line).toBe("::error title=guard #\\x23[x]::a #\\x23[error]b%0A\\x3a:warning::c%0A  \\x3a:notice::d\n");
  });

  it("a check annotation and summary quoting a hostile requirement stay inert", () => {
    const decision: Decision = { decision: "approval", environment: "production", protected: true, evidence: [], rules: [HOSTILE.rule], requirements: [HOSTILE], freezes: [], reasons: [], breakGlassAvailable: false };
    const report: CiReport = { command: "check", exitCode: 75, status: "approval", argv: ["x"], decision, error: null, request: null };
    const note = annotation(report)!;
    expect(note).not.toMatch(/[\x1b\x07\u202e]|##\[/);
    const md = summaryMarkdown(report);
    expect(md).not.toMatch(/[\x1b\x07\u202e]|##\[/);
  });
});
