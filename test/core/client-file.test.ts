import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readClientFile } from "../../src/adapters/client-file.js";
import { readPgServiceFiles } from "../../src/adapters/pg-service.js";

/**
 * The files clients read to decide where they connect (kubeconfig, pg_service.conf) are read whole and
 * bounded, and anything that is not a regular file is an error, so that detection fails closed at once:
 * before, KUBECONFIG=/dev/zero or a FIFO nobody writes hung guard (found this session).
 */

const dir = mkdtempSync(join(tmpdir(), "guard-client-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => join(dir, name);

writeFileSync(at("small"), "host=db\n");
writeFileSync(at("exact"), Buffer.alloc(64, 0x41));
writeFileSync(at("over"), Buffer.alloc(65, 0x41));
mkdirSync(at("dir"));
execFileSync("mkfifo", [at("fifo")]);

describe("readClientFile", () => {
  it.each([
    ["a small file", at("small"), { bytes: Buffer.from("host=db\n") }],
    ["a file of exactly the bound", at("exact"), { bytes: Buffer.alloc(64, 0x41) }],
    ["a file one byte over", at("over"), { error: "larger than 64 bytes" }],
    ["a missing file", at("missing"), { missing: true }],
    ["/dev/null (empty, as the clients read it)", "/dev/null", { bytes: Buffer.alloc(0) }],
    ["a directory", at("dir"), { error: expect.stringMatching(/^not a regular file \(a directory\)/) }],
    ["/dev/zero, which never ends", "/dev/zero", { error: expect.stringMatching(/^not a regular file \(a character device\)/) }],
    ["a FIFO nobody writes", at("fifo"), { error: expect.stringMatching(/^not a regular file \(a FIFO or pipe\)/) }],
    ["a path through a file", join(at("small"), "x"), { error: "cannot read (ENOTDIR)" }],
  ])("%s", (_name, path, want) => {
    expect(readClientFile(path, 64)).toEqual(want);
  });
});

describe("readPgServiceFiles", () => {
  it("PGSERVICEFILE naming /dev/zero or a FIFO: an error for detection to fail closed on, at once", async () => {
    for (const [path, kind] of [["/dev/zero", "a character device"], [at("fifo"), "a FIFO or pipe"]] as const) {
      const files = await readPgServiceFiles({ PGSERVICEFILE: path, PGSYSCONFDIR: dir }, dir);
      expect(files).toContainEqual({ path, error: expect.stringContaining(`not a regular file (${kind})`) });
    }
  });
});
