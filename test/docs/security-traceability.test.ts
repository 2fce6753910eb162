import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * SECURITY.md says where every case of the bad-input catalogue is tested. Held here so that it cannot
 * drift: every case its opening paragraph names (as ranges: "P1–P13, …") has a row of its own in the
 * Traceability tables; every test file a row cites exists; and a cited test title that starts with a
 * case's ID (`E14: …`) is in a file that names that case.
 */
const text = readFileSync("SECURITY.md", "utf8");
const opening = text.slice(0, text.indexOf("\n## "));
const traceability = text.slice(text.indexOf("\n## Traceability"));

/** The case IDs of the opening paragraph's ranges, e.g. "E13–E22" → E13 … E22. */
function namedCases(): string[] {
  const out: string[] = [];
  for (const m of opening.matchAll(/\b([A-Z]{1,2})(\d+)–\1(\d+)\b/g)) {
    for (let i = Number(m[2]); i <= Number(m[3]); i++) out.push(`${m[1]}${i}`);
  }
  return out;
}

describe("SECURITY.md's traceability", () => {
  it("names the catalogue's families in its opening paragraph", () => {
    expect(namedCases().length).toBeGreaterThanOrEqual(90);
  });

  it("has a row for every case the opening paragraph names", () => {
    const rows = new Set([...traceability.matchAll(/^\| ([A-Z]{1,2}\d+[a-z]?) \|/gm)].map((m) => m[1]));
    expect(namedCases().filter((id) => !rows.has(id))).toEqual([]);
  });

  it("cites only test files that exist, and a title starting with a case ID only from a file that names it", () => {
    const problems: string[] = [];
    let cited = 0;
    for (const m of text.matchAll(/`([a-zA-Z0-9_./-]+\.test\.ts)`(?: › "([^"]*)")?/g)) {
      cited++;
      const path = m[1]!.startsWith("test/") ? m[1]! : `test/${m[1]}`;
      if (!existsSync(path)) {
        problems.push(`${path}: no such test file`);
        continue;
      }
      const id = m[2] === undefined ? null : /^'?([A-Z]{1,2}\d+[a-z]?)\b/.exec(m[2]);
      if (id && !readFileSync(path, "utf8").includes(id[1]!)) problems.push(`${path} is cited for ${id[1]}, which it never names`);
    }
    expect(cited).toBeGreaterThan(300);
    expect(problems).toEqual([]);
  });
});
