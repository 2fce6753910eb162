/**
 * The file store's prune reads its log again instead of holding its text (adapters/store/prune-log.ts):
 * rereadLog hands on the first k lines and finds where the kept ones start; copyKept copies those into the
 * new log with the offsets of their request.created events. Real files of several read blocks (1 MiB),
 * lines across block boundaries and one line longer than a block; a file changed in place, replaced or cut
 * after the plan read it is refused (65, 74).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtemp, open, readFile, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyKept, rereadLog, type LogSnapshot } from "../../src/adapters/store/prune-log.js";

const created = (n: number): string => JSON.stringify({ actor: {}, data: { requestId: `r-${String(n).padStart(20, "a")}` }, hash: "h", prev: "p", seq: n, time: "t", type: "request.created" });

describe("prune-log: the log read again, never held", () => {
  let dir: string;
  let lines: string[];
  let text: string;
  const path = (): string => join(dir, "events.jsonl");
  const snapshot = async (): Promise<LogSnapshot> => {
    const st = await stat(path());
    return { ino: st.ino, dev: st.dev, size: st.size };
  };
  const sha = (s: string | Buffer): string => createHash("sha256").update(s).digest("hex");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "prune-log-"));
    lines = [];
    for (let i = 1; i <= 30_000; i++) {
      if (i === 12_345) lines.push(`{"big":"${"é".repeat(700_000)}"}`); // 1.4 MB of UTF-8: longer than a read block
      else if (i % 97 === 0) lines.push(created(i));
      else lines.push(`{"seq":${i},"pad":"${"x".repeat(i % 400)}","note":"ünïcödé ${i}"}`);
    }
    text = `${lines.join("\n")}\n`;
    await writeFile(path(), text);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("hands on exactly the first k lines and finds where the rest starts, for any k; copyKept copies the rest byte for byte with its request.created offsets", async () => {
    const snap = await snapshot();
    expect(snap.size).toBeGreaterThan(8 << 20);
    for (const k of [1, 2, 12_344, 12_345, 12_346, 20_000, lines.length]) {
      const got: string[] = [];
      const kept = rereadLog(path(), snap, sha(text), k, (l) => got.push(l));
      expect(got.length, `k=${k}`).toBe(k);
      expect(got.every((l, i) => l === lines[i]), `k=${k}`).toBe(true);
      const rest = lines.slice(k);
      const restText = rest.length ? `${rest.join("\n")}\n` : "";
      expect(kept.from, `k=${k}`).toBe(Buffer.byteLength(text) - Buffer.byteLength(restText));
      expect(kept.sha256, `k=${k}`).toBe(sha(restText));

      const out = join(dir, `new-${k}`);
      const fh = await open(out, "w");
      let copied: Awaited<ReturnType<typeof copyKept>>;
      try {
        copied = await copyKept(path(), snap, kept, fh);
      } finally {
        await fh.close();
      }
      expect((await readFile(out, "utf8")) === restText, `k=${k}`).toBe(true);
      expect(copied.bytes).toBe(Buffer.byteLength(restText));
      const want = new Map<string, number>();
      let offset = 0;
      for (const l of rest) {
        if (l.includes('"type":"request.created"')) want.set((JSON.parse(l) as { data: { requestId: string } }).data.requestId, offset);
        offset += Buffer.byteLength(l) + 1;
      }
      expect(copied.created).toEqual(want);
      await rm(out);
    }
  });

  it("reads only up to the size the plan read: lines appended since are no change", async () => {
    const snap = await snapshot();
    await writeFile(path(), `${text}{"appended":true}\n`);
    try {
      const got: string[] = [];
      const kept = rereadLog(path(), snap, sha(text), 3, (l) => got.push(l));
      expect(got).toEqual(lines.slice(0, 3));
      expect(kept.sha256).toBe(sha(`${lines.slice(3).join("\n")}\n`));
    } finally {
      await writeFile(path(), text);
    }
  });

  it("a byte changed in place is refused (65) by either read; a replaced or shorter file (74)", async () => {
    const snap = await snapshot();
    const kept = rereadLog(path(), snap, sha(text), 100, () => undefined);
    const at = text.lastIndexOf("ünïcödé");
    const edit = async (): Promise<void> => {
      const fh = await open(path(), "r+");
      try {
        await fh.write(Buffer.from("u"), 0, 1, Buffer.byteLength(text.slice(0, at)));
      } finally {
        await fh.close();
      }
    };
    await edit();
    try {
      expect(() => rereadLog(path(), snap, sha(text), 100, () => undefined)).toThrow(expect.objectContaining({ exitCode: 65, message: expect.stringContaining("changed while it was being pruned") }));
      const fh = await open(join(dir, "new"), "w");
      try {
        await expect(copyKept(path(), snap, kept, fh)).rejects.toMatchObject({ exitCode: 65, message: expect.stringContaining("the archive written is not referenced") });
      } finally {
        await fh.close();
      }
    } finally {
      await writeFile(path(), text); // (the same file: written in place)
    }
    expect((await snapshot()).ino).toBe(snap.ino);

    await writeFile(join(dir, "other"), text);
    await rename(join(dir, "other"), path());
    expect(() => rereadLog(path(), snap, sha(text), 100, () => undefined)).toThrow(expect.objectContaining({ exitCode: 74, message: expect.stringContaining("was replaced or cut while it was being pruned") }));
    const now = await snapshot();
    await truncate(path(), now.size - 10);
    expect(() => rereadLog(path(), now, sha(text), 100, () => undefined)).toThrow(expect.objectContaining({ exitCode: 74 }));
    await writeFile(path(), text);
  });
});
