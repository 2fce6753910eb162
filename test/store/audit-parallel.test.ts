import { open as openFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParallelSink } from "../../src/adapters/store/audit-parallel.js";
import type { openFileStore as OpenFileStore } from "../../src/adapters/store/file.js";
import type { AuditVerifier as Verifier, AuditReport } from "../../src/core/audit.js";
import { chainEvent } from "../../src/core/audit.js";
import { canonicalJson } from "../../src/core/canonical.js";
import type { AuditDraft, AuditEvent } from "../../src/core/types.js";
import { bundleBesideWorker } from "../helpers/worker-bundle.js";

/**
 * audit verify over a long log with worker threads (audit-parallel.ts) must reach exactly the report,
 * or the error, of the line-by-line reader. Worker threads cannot load TypeScript, so the store is
 * bundled with esbuild first, as the CLI is (CommonJS: the worker is found beside the bundle's __filename).
 */

interface Bundle {
  openFileStore: typeof OpenFileStore;
  AuditVerifier: typeof Verifier;
  feedAuditParallel: (fd: number, path: string, sink: ParallelSink, parse: (text: string, lineNo: number) => AuditEvent) => Promise<boolean>;
}

let work: string;
let mod: Bundle;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "guard-par-"));
  // The store, and beside it the worker's own bundle, as scripts/build.mjs lays them out in dist/.
  mod = await bundleBesideWorker<Bundle>(work, "store", {
    "adapters/store/file.ts": ["openFileStore"],
    "core/audit.ts": ["AuditVerifier"],
    "adapters/store/audit-parallel.ts": ["feedAuditParallel"],
  });
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const actor = { principal: "alice", fingerprint: "SHA256:alice", user: "alice" };

/** Events of every kind the verifier reads, some the fast path declines (a fraction), some not ASCII. */
function drafts(n: number): AuditDraft[] {
  const out: AuditDraft[] = [];
  for (let i = 0; out.length < n; i++) {
    const runId = `run-${i}`;
    const requestId = `r-${"abcdefghijklmnopqrst".slice(0, 19)}${"abcdefghijklmnopqrstuvwxyz234567"[i % 32]}`;
    out.push({ type: "run.intent", actor, data: { runId, requestId, argv: ["./purge.sh", `--n=${i}`] } });
    out.push({ type: "request.consumed", actor, data: { requestId, runId } });
    out.push({ type: "run.started", actor, data: { runId, requestId, argv: ["./purge.sh", `--n=${i}`, "é 😀 \"q\"\n"], cwd: "/srv/ops", padding: "p".repeat(300) } });
    if (i % 97 !== 5) out.push({ type: "run.finished", actor, data: { runId, exitCode: 0, signal: null, durationMs: i } });
    if (i % 50 === 0) out.push({ type: "run.refused", actor, data: { ratio: 0.25, reasons: ["a fraction: the full path"] } });
  }
  return out.slice(0, n);
}

function chain(ds: AuditDraft[]): string[] {
  const lines: string[] = [];
  let prev: AuditEvent | null = null;
  for (const d of ds) {
    prev = chainEvent(prev, d, "2026-01-05T10:00:00.000Z");
    lines.push(canonicalJson(prev));
  }
  return lines;
}

const LINES = chain(drafts(12_000)); // about 6 MiB: above the size from which threads are used

type Outcome = { report: Omit<AuditReport, "consumedRequests" | "intendedRequests" | "startedRequests"> & Record<string, unknown> } | { error: string };

async function settle(run: () => Promise<AuditReport>): Promise<Outcome> {
  try {
    const r = await run();
    const sets = Object.fromEntries(Object.entries(r).filter(([, v]) => v instanceof Set).map(([k, v]) => [k, [...(v as Set<string>)]]));
    return { report: { ...r, ...sets } as Outcome extends { report: infer R } ? R : never };
  } catch (e) {
    return { error: `${(e as { exitCode?: number }).exitCode ?? "?"} ${(e as Error).message}` };
  }
}

/** The log written as `text`, verified with threads and line by line; both outcomes, and whether threads ran. */
async function bothWays(text: string | Buffer, anchor?: { seq: number; hash: string }): Promise<{ threaded: Outcome; sequential: Outcome; usedThreads: boolean }> {
  const dir = join(work, `store-${Math.random().toString(36).slice(2)}`);
  await mkdir(join(dir, "audit"), { recursive: true, mode: 0o700 });
  const path = join(dir, "audit", "events.jsonl");
  await writeFile(path, text);
  let usedThreads = false;
  const threaded = await settle(async () => {
    const v = new mod.AuditVerifier(anchor ? { anchor } : undefined);
    const fh = await openFile(path, "r");
    try {
      usedThreads = await mod.feedAuditParallel(fh.fd, path, v, (t, n) => {
        try {
          return JSON.parse(t) as AuditEvent;
        } catch {
          throw Object.assign(new Error(`line ${n} is not valid JSON`), { exitCode: 65 });
        }
      });
    } finally {
      await fh.close();
    }
    return v.finish();
  });
  const sequential = await settle(async () => {
    const store = await mod.openFileStore(dir, { create: false });
    const v = new mod.AuditVerifier(anchor ? { anchor } : undefined);
    // A sink without pushChecked: the store reads the log itself, line by line.
    await store.feedAudit!({ pushLine: (b, s, e) => v.pushLine(b, s, e), push: (e) => v.push(e), headSeq: 0, headHash: "" });
    await store.close();
    return v.finish();
  });
  await rm(dir, { recursive: true, force: true });
  return { threaded, sequential, usedThreads };
}

const canThread = availableParallelism() >= 2;

describe.runIf(canThread)("audit verify with worker threads", () => {
  it("an intact log: the same report as line by line (interrupted runs, consumptions), and through the store", async () => {
    const r = await bothWays(`${LINES.join("\n")}\n`);
    expect(r.usedThreads).toBe(true);
    expect(r.threaded).toEqual(r.sequential);
    expect(r.threaded).toMatchObject({ report: { ok: true, events: LINES.length } });
    expect((r.threaded as unknown as { report: AuditReport }).report.interrupted.length).toBeGreaterThan(0);

    // And as audit verify reads it: the store picks the threads itself for a log this long.
    const dir = join(work, "through-store");
    await mkdir(join(dir, "audit"), { recursive: true, mode: 0o700 });
    await writeFile(join(dir, "audit", "events.jsonl"), `${LINES.join("\n")}\n`);
    const store = await mod.openFileStore(dir, { create: false });
    const v = new mod.AuditVerifier();
    await store.feedAudit!(v);
    await store.close();
    expect(await settle(async () => v.finish())).toEqual(r.sequential);
  });

  it("S6, S7: edits, a re-hashed forgery, a deletion and a reordering deep in the log: the same problems, the same first bad event", async () => {
    const lines = [...LINES];
    const e = JSON.parse(lines[7000]!) as AuditEvent;
    lines[7000] = canonicalJson({ ...e, data: { ...e.data, argv: ["./harmless.sh"] } }); // edited, hash left alone
    lines.splice(9000, 1); // deleted
    [lines[10_000], lines[10_001]] = [lines[10_001]!, lines[10_000]!]; // reordered
    const k = lines.findIndex((l, i) => i > 3000 && l.includes('"exitCode":0'));
    lines[k] = lines[k]!.replace('"exitCode":0', '"exitCode": 0'); // reformatted, not altered: the full path takes it
    const f = JSON.parse(lines[5000]!) as AuditEvent; // replaced, re-hashed by a forger
    lines[5000] = canonicalJson(chainEvent({ seq: f.seq - 1, hash: f.prev }, { type: f.type, actor: f.actor, data: { forged: true } }, f.time));
    const r = await bothWays(`${lines.join("\n")}\n`);
    expect(r.usedThreads).toBe(true);
    expect(r.threaded).toEqual(r.sequential);
    expect(r.threaded).toMatchObject({ report: { ok: false, firstBad: { seq: 5001 } } });
    expect((r.threaded as unknown as { report: AuditReport }).report.problems.join("\n")).toMatch(/^event 5001 was altered or replaced[^]*event 7001 was altered[^]*missing[^]*out of order/);
  });

  it("S7: against an anchor, matched and not", async () => {
    const head = JSON.parse(LINES.at(-1)!) as AuditEvent;
    const mid = JSON.parse(LINES[5000]!) as AuditEvent;
    for (const anchor of [{ seq: head.seq, hash: head.hash }, { seq: mid.seq, hash: "a".repeat(64) }, { seq: head.seq + 5, hash: head.hash }]) {
      const r = await bothWays(`${LINES.join("\n")}\n`, anchor);
      expect(r.threaded).toEqual(r.sequential);
    }
  });

  it("issue 18: a pruned log (starting after event 1, with its store.pruned checkpoint) verifies as line by line; without the checkpoint, head removed", async () => {
    const through = JSON.parse(LINES[2999]!) as AuditEvent;
    const head = JSON.parse(LINES.at(-1)!) as AuditEvent;
    const checkpoint = chainEvent(head, {
      type: "store.pruned",
      actor,
      data: { cutoff: "2026-01-01T00:00:00.000Z", through: { seq: through.seq, hash: through.hash }, retired: [], archive: { name: "a.jsonl.gz", sha256: "a".repeat(64), bytes: 1 } },
    }, "2026-02-01T00:00:00.000Z");
    const pruned = [...LINES.slice(3000), canonicalJson(checkpoint)];
    const r = await bothWays(`${pruned.join("\n")}\n`);
    expect(r.usedThreads).toBe(true);
    expect(r.threaded).toEqual(r.sequential);
    expect(r.threaded).toMatchObject({ report: { ok: true, events: pruned.length, start: { seq: 3001 } } });
    const cut = await bothWays(`${LINES.slice(3000).join("\n")}\n`);
    expect(cut.threaded).toEqual(cut.sequential);
    expect(cut.threaded).toMatchObject({ report: { ok: false, firstBad: { seq: 1 } } });
  });

  it("a line that is not JSON, and a torn last line: the same error, naming the same line", async () => {
    const lines = [...LINES];
    lines[8000] = "garbage";
    const bad = await bothWays(`${lines.join("\n")}\n`);
    expect(bad.threaded).toEqual({ error: expect.stringMatching(/line 8001 is not valid JSON/) as unknown as string });
    const torn = await bothWays(`${LINES.join("\n")}\n${LINES[0]!.slice(0, 40)}`);
    expect(torn.threaded).toEqual(torn.sequential);
    expect(torn.threaded).toEqual({ error: expect.stringMatching(/incomplete line 12001 \(a torn write\)/) as unknown as string });
  });

  it("a line longer than a block (and than the fast path takes) is read whole", async () => {
    const big = chain([...drafts(11_000), { type: "policy.error", actor, data: { message: "x".repeat(5 << 20) } }, ...drafts(3)]);
    const r = await bothWays(`${big.join("\n")}\n`);
    expect(r.threaded).toEqual(r.sequential);
    expect(r.threaded).toMatchObject({ report: { ok: true, events: big.length } });
  });
});

describe("audit verify from TypeScript sources", () => {
  it("falls back to reading line by line (no bundle for a worker to load)", async () => {
    const { feedAuditParallel } = await import("../../src/adapters/store/audit-parallel.js");
    const { AuditVerifier } = await import("../../src/core/audit.js");
    const path = join(work, "ts.jsonl");
    await writeFile(path, `${LINES.slice(0, 10).join("\n")}\n`);
    const fh = await openFile(path, "r");
    try {
      expect(await feedAuditParallel(fh.fd, path, new AuditVerifier(), (t) => JSON.parse(t) as AuditEvent)).toBe(false);
    } finally {
      await fh.close();
    }
    expect((await readFile(path, "utf8")).split("\n")).toHaveLength(11);
  });
});
