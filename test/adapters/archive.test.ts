/**
 * The archive's bytes (adapters/store/archive.ts encodeArchive): its lines gzipped a few megabytes at a
 * time, one gzip member each, so a long history is never joined into one text. Whatever the pieces, the
 * archive must read back as exactly its lines — by guard's own readArchive, and by gunzip, which an
 * auditor may use on it — and its part digests must be the SHA-256 of the lines as they stand in it.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { encodeArchive, readArchive, readArchiveContent } from "../../src/adapters/store/archive.js";
import { ExitCode } from "../../src/core/errors.js";
import { ARCHIVE_FORMAT, partDigest, type ArchiveManifest } from "../../src/core/prune.js";

const dir = mkdtempSync(join(tmpdir(), "guard-archive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function manifestOf(eventLines: string[], recordLines: string[]): ArchiveManifest {
  return {
    format: ARCHIVE_FORMAT,
    store: "file:/srv/guard",
    cutoff: "2026-01-01T00:00:00.000Z",
    events: { count: eventLines.length, firstSeq: 1, lastSeq: eventLines.length, firstPrev: "0".repeat(64), lastHash: "f".repeat(64), sha256: partDigest(eventLines) },
    records: { requests: recordLines.length, approvals: 0, consumptions: 0, sha256: partDigest(recordLines) },
    retired: [],
  };
}

describe("encodeArchive", () => {
  it.each([
    ["a few lines (one member)", 3, 40],
    ["12 MB of lines, some of them not ASCII (several members)", 40_000, 300],
  ])("%s: gunzip and readArchive give back exactly the lines", async (_name, n, width) => {
    const eventLines = Array.from({ length: n }, (_, i) => `{"seq":${i + 1},"pad":"${(i % 7 === 0 ? "é✓" : "x").repeat(width)}"}`);
    const recordLines = [JSON.stringify({ note: "no records are needed for the encoding" })];
    const manifest = manifestOf(eventLines, recordLines);
    const text = [JSON.stringify(manifest), ...eventLines, ...recordLines].map((l) => `${l}\n`).join("");
    const bytes = encodeArchive(manifest, eventLines, recordLines);
    expect(gunzipSync(bytes).toString("utf8")).toBe(text);
    const path = join(dir, `a-${n}.jsonl.gz`);
    writeFileSync(path, bytes);
    expect(execFileSync("gunzip", ["-c", path], { maxBuffer: 64 << 20 }).toString("utf8")).toBe(text);
    // (readArchive then holds the records to the shapes prune writes: this one has none it accepts)
    await expect(readArchive(path)).rejects.toThrow(/holds a record guard never archives \(record 1: not \{request, approvals, consumption\}\)/);
  });

  it("partDigest is the SHA-256 of the lines, each followed by a newline", () => {
    const lines = ["a", "é", "", "{\"x\":1}"];
    expect(partDigest(lines)).toBe(createHash("sha256").update("a\né\n\n{\"x\":1}\n").digest("hex"));
    expect(partDigest([])).toBe(createHash("sha256").update("").digest("hex"));
  });
});

describe("readArchive and readArchiveContent: a line at a time, never the whole text", () => {
  /** An archive of `n` events and no records, consistent with its own manifest. */
  function archiveOf(n: number, tag: string): { path: string; eventLines: string[] } {
    const eventLines = Array.from({ length: n }, (_, i) => `{"seq":${i + 1},"tag":"${tag}","pad":"${"é".repeat(i % 300)}"}`);
    const path = join(dir, `content-${tag}.jsonl.gz`);
    writeFileSync(path, encodeArchive(manifestOf(eventLines, []), eventLines, []));
    return { path, eventLines };
  }

  it("hands on every event line in order, lines split across gunzip's pieces included, and finds the file unchanged", async () => {
    const { path, eventLines } = archiveOf(30_000, "a");
    const a = await readArchive(path);
    expect(a.manifest.events.count).toBe(30_000);
    const seen: string[] = [];
    expect(await readArchiveContent(a, (l) => seen.push(l), () => expect.unreachable("no records"))).toBeNull();
    expect(seen).toEqual(eventLines);
  });

  it("a file replaced between the check and the read (another archive, consistent with itself): the read says so", async () => {
    const { path } = archiveOf(500, "b");
    const a = await readArchive(path);
    const other = archiveOf(500, "c");
    writeFileSync(path, readFileSync(other.path));
    const problem = await readArchiveContent(a, () => undefined, () => undefined);
    expect(problem).toMatch(/changed while it was being read/);
  });

  it.each([
    ["cut short (a torn gzip stream)", (b: Buffer) => b.subarray(0, b.length - 20), /is not a gzip file/],
    ["not gzip at all", () => Buffer.from("manifest\n"), /is not a gzip file/],
    ["empty once gunzipped", () => gzipSync(Buffer.alloc(0)), /ends with an incomplete line/],
    ["ending without a newline", () => gzipSync(Buffer.from('{"format":1}')), /ends with an incomplete line/],
    ["one line longer than 64 MiB", () => gzipSync(Buffer.from(`${"x".repeat((64 << 20) + 10)}\n`)), /holds a line longer than any guard writes/],
  ])("an archive %s is refused (65), naming it", async (_name, edit, message) => {
    const { path } = archiveOf(200, "d");
    writeFileSync(path, edit(readFileSync(path)));
    const e = await readArchive(path).then(
      () => null,
      (x: unknown) => x as { exitCode: number; message: string },
    );
    expect(e?.exitCode).toBe(ExitCode.INTEGRITY);
    expect(e?.message).toMatch(message);
    expect(e?.message).toContain(path);
  });

  it("a missing archive is an I/O error (74), not a damaged one", async () => {
    await expect(readArchive(join(dir, "no-such.jsonl.gz"))).rejects.toMatchObject({ exitCode: ExitCode.IO });
  });
});
