/**
 * The README lists every variable allowed to vary between request and run (and nothing else as such):
 * a variable added to MAY_VARY without telling users is one nobody weighed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAY_VARY } from "../../src/core/bind-env.js";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");

describe("README › the variables allowed to vary", () => {
  it("names every entry of MAY_VARY, and only those, in its list", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const start = readme.indexOf("- allowed to vary,");
    expect(start, "the list 'allowed to vary' is missing from README.md").toBeGreaterThan(0);
    const list = readme.slice(start, readme.indexOf("\n- ", start + 1));
    const listed = [...list.matchAll(/`([A-Z_][A-Z0-9_]*)`/g)].map((m) => m[1]).filter((n) => n !== "MAY_VARY");
    expect(listed.sort()).toEqual(Object.keys(MAY_VARY).sort());
  });
});
