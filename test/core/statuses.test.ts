/**
 * One set of statuses: what guard reports (`guard run`'s status line, `error.code` under --json) is
 * STATUSES in src/core/errors.ts, and docs/ci.md's table is exactly that list, in that order.
 * To regenerate the table: GUARD_WRITE_DOCS=1 npx vitest run test/core/statuses.test.ts
 */
import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { STATUSES } from "../../src/core/errors.js";

const DOC = fileURLToPath(new URL("../../docs/ci.md", import.meta.url));
const START = "<!-- statuses: held to src/core/errors.ts STATUSES by test/core/statuses.test.ts -->\n";
const END = "<!-- /statuses -->";

function table(): string {
  const rows = Object.entries(STATUSES).map(([status, meaning]) => `| \`${status}\` | ${meaning} |`);
  return ["| status | exit and meaning |", "|---|---|", ...rows, ""].join("\n");
}

describe("statuses", () => {
  it("docs/ci.md lists exactly the statuses guard reports", () => {
    const doc = readFileSync(DOC, "utf8");
    const start = doc.indexOf(START);
    const end = doc.indexOf(END);
    expect(start, "docs/ci.md has lost its statuses markers").toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    const current = doc.slice(start + START.length, end);
    if (process.env.GUARD_WRITE_DOCS === "1") writeFileSync(DOC, doc.slice(0, start + START.length) + table() + doc.slice(end));
    else expect(current).toBe(table());
  });

  it("each status names its exit code, and those codes are guard's", () => {
    for (const [status, meaning] of Object.entries(STATUSES)) {
      if (status === "ran") continue;
      expect(meaning, status).toMatch(/^(64|65|70|74|75|77|78|126|127|130): /);
    }
  });
});
