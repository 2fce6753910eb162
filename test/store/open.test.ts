import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/adapters/store/open.js";
import { expectGuardError } from "./contract.js";

let parent: string;

beforeEach(async () => {
  parent = await mkdtemp(join(tmpdir(), "guard-open-"));
});

afterEach(async () => {
  await rm(parent, { recursive: true, force: true });
});

describe("openStore", () => {
  const forms: Array<[string, (dir: string) => string]> = [
    ["file:/abs", (d) => `file:${d}`],
    ["file:///abs", (d) => pathToFileURL(d).href],
    ["a bare absolute path", (d) => d],
  ];
  for (const [name, url] of forms) {
    it(`opens a directory store from ${name}`, async () => {
      const dir = join(parent, "store");
      const store = await openStore(url(dir));
      expect(store.description).toBe(`file:${dir}`);
      expect((await stat(dir)).isDirectory()).toBe(true);
      await store.close();
    });
  }

  it("with create: false a missing directory is 74, not a fresh empty store", async () => {
    await expectGuardError(openStore(`file:${join(parent, "typo")}`, { create: false }), 74);
    await expect(stat(join(parent, "typo"))).rejects.toThrow();
  });

  const bad = ["relative/path", "file:relative", "http://example.com/store", "s3://bucket", "", `file:${"/tmp/a\0b"}`, "file://otherhost/store", "mysql://db"];
  for (const url of bad) {
    it(`refuses ${JSON.stringify(url)} as a usage error (64) naming the accepted forms`, async () => {
      const e = await expectGuardError(openStore(url), 64);
      expect(e.hint).toContain("postgres://");
    });
  }
});
