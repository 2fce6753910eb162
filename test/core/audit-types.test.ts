import { describe, expect, it } from "vitest";
import { AUDIT_EVENT_TYPES, auditTypeFilter } from "../../src/core/audit-types.js";

describe("audit log --type", () => {
  const matching = (arg: string): string[] | null => {
    const f = auditTypeFilter(arg);
    return f.ok ? AUDIT_EVENT_TYPES.filter((t) => f.matches(t)) : null;
  };
  it.each([
    ["approval", ["approval.refused", "approval.recorded"]],
    ["approval.", ["approval.refused", "approval.recorded"]],
    ["run", ["run.refused", "run.intent", "run.started", "run.finished"]],
    ["run.", ["run.refused", "run.intent", "run.started", "run.finished"]],
    ["run.started", ["run.started"]],
    ["request", ["request.refused", "request.created", "request.consumed"]],
  ])("%s matches %j", (arg, want) => {
    expect(matching(arg)).toEqual(want);
  });
  it.each(["bogus", "run.bogus", "ru", "approval.*", "", "."])("%j is refused with the known types", (arg) => {
    const f = auditTypeFilter(arg);
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.known).toContain("approval.recorded");
  });
  it("a family does not match a longer family name sharing its prefix", () => {
    const f = auditTypeFilter("run");
    expect(f.ok && f.matches("runner.x")).toBe(false);
  });
});
