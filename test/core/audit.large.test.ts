import { hash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openFileStore } from "../../src/adapters/store/file.js";
import { AuditVerifier, GENESIS } from "../../src/core/audit.js";

/**
 * A large log, verified through the streaming paths (the fast hashing path and the file store's chunked
 * reader). Speed is measured by `npm run bench` (1,000,000 events), never asserted here.
 */

const N = 100_000;

/** Canonical audit lines built directly (chainEvent would make generation as slow as verification). */
function lines(n: number): string[] {
  const actor = '{"fingerprint":"SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","principal":"alice","user":"alice"}';
  const time = "2026-01-05T10:00:00.000Z";
  const out: string[] = [];
  let prev = GENESIS;
  for (let i = 1; i <= n; i++) {
    const run = `run-${i % 2 ? i : i - 1}`;
    const [type, data] =
      i % 2 ? ["run.started", `{"argv":["./scripts/purge.sh","--region","us-east-1"],"environment":"production","runId":"${run}"}`] : ["run.finished", `{"durationMs":12,"exitCode":0,"runId":"${run}","signal":null}`];
    const body = `{"actor":${actor},"data":${data},"prev":"${prev}","seq":${i},"time":"${time}","type":"${type}"}`;
    const h = hash("sha256", body, "hex");
    out.push(`{"actor":${actor},"data":${data},"hash":"${h}","prev":"${prev}","seq":${i},"time":"${time}","type":"${type}"}`);
    prev = h;
  }
  return out;
}

describe("a large audit log", () => {
  const log = lines(N);

  it(`parses and verifies ${N.toLocaleString("en")} events`, () => {
    const v = new AuditVerifier();
    for (const l of log) v.push(JSON.parse(l));
    const r = v.finish();
    expect(r).toMatchObject({ ok: true, events: N, interrupted: [] });
  });

  it(`reads ${N.toLocaleString("en")} events from a file store and verifies them`, async () => {
    const parent = await mkdtemp(join(tmpdir(), "guard-perf-"));
    try {
      const dir = join(parent, "store");
      await mkdir(join(dir, "audit"), { recursive: true, mode: 0o700 });
      await writeFile(join(dir, "audit", "events.jsonl"), `${log.join("\n")}\n`);
      const store = await openFileStore(dir, { create: false });
      const v = new AuditVerifier();
      for await (const e of store.readAudit()) v.push(e);
      const r = v.finish();
      expect(r).toMatchObject({ ok: true, events: N });
      // As audit verify reads it: raw lines, the fast path taking every one.
      const fast = new AuditVerifier();
      let parsed = 0;
      await store.feedAudit!({ pushLine: (b, s, e) => fast.pushLine(b, s, e), push: (e) => (parsed++, fast.push(e)), headSeq: 0, headHash: "" });
      expect(parsed).toBe(0);
      expect(fast.finish()).toEqual(r);
      await store.close();
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
