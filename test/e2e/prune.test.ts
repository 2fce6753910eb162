/**
 * Issue 18 (retention): `guard store prune` on the file store, with the built CLI, real keys and real
 * history made ten days ago (a `node -r` preload moves guard's clock back, test/helpers/past-clock.ts, so
 * the requests really expired then):
 * a consumed request, a denied one, one never approved, an allowed run; and a recent open request.
 * After the prune the log verifies, with the archive too; an anchor in the retired part needs the
 * archive; a log whose head was cut without a checkpoint, or an altered archive, fails (65); a retired
 * request put back is refused as expired; the recent request still runs once, and only once.
 *
 * What runs where: the history made in the past (and the prune fifteen days ago) is made by the built CLI,
 * since the clock preload is a `node -r` option; so are the prunes that run another guard at their commit's
 * doorstep (a `node -r` preload, and two guards at once), and the main prune of the retained history, so the
 * real CLI is shown retiring and checkpointing end to end. Everything else (the refusals, dry runs, verify,
 * audit log, runs after the prune, the crashed/forged/bad stores, today's prune) runs guard's whole command
 * line in process (test/helpers/in-process.ts guardIn), on the same store and real clock: it saves a Node
 * start per call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, mkdir, open, readFile, readdir, rename, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, type World } from "./world.js";
import { pastClockHook } from "../helpers/past-clock.js";
import { guardIn } from "../helpers/in-process.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";

interface VerifyJson {
  ok: boolean;
  problems: string[];
  leftovers: string[];
  head: { seq: number; hash: string };
}

const lines = async (w: World): Promise<string[]> => (await readFile(join(w.store, "audit", "events.jsonl"), "utf8")).trimEnd().split("\n");

describe("issue 18: guard store prune (file store)", () => {
  let w: World;
  let consumed: string;
  let denied: string;
  let unapproved: string;
  let recent: string;
  let before: string[];
  let archive: string;
  let prePrune: string;

  const verify = async (args: string[] = [], store?: string): Promise<{ code: number; v: VerifyJson }> => {
    const r = await guardIn(w, ["audit", "verify", "--json", ...args], store ? { env: { GUARD_STORE: `file:${store}` } } : {});
    return { code: r.code, v: JSON.parse(r.stdout) as VerifyJson };
  };
  const request = async (ticket: string, node: string[] = []): Promise<string> => {
    const args = ["run", "--confirm", "production", "--reason", ticket, "--", PURGE, `--ticket=${ticket}`];
    // Made in the past: a spawned guard behind the clock preload. Made now: in process.
    const r = node.length ? await guard(w, args, { as: "alice", env: PROD, node }) : await guardIn(w, args, { as: "alice", env: PROD });
    expect(r.code).toBe(75);
    return requestIdIn(r.stderr);
  };

  beforeAll(async () => {
    w = await makeWorld();
    const hook = join(w.dir, "ten-days-ago.cjs");
    await writeFile(hook, pastClockHook(10));
    const old = ["-r", hook];
    consumed = await request("consumed", old);
    expect((await guard(w, ["approve", consumed, "--yes"], { as: "bob", node: old })).code).toBe(0);
    const ran = await guard(w, ["run", "--request", consumed, "--confirm", "production"], { as: "alice", env: PROD, node: old });
    expect(ran.code).toBe(0);
    denied = await request("denied", old);
    expect((await guard(w, ["deny", denied, "--yes", "--reason", "no"], { as: "bob", node: old })).code).toBe(0);
    unapproved = await request("unapproved", old);
    expect((await guard(w, ["run", "--", "./maintenance/report-lb-state.sh"], { as: "alice", env: PROD, node: old })).code).toBe(0);
    recent = await request("recent");
    expect((await guardIn(w, ["approve", recent, "--yes"], { as: "bob" })).code).toBe(0);
    before = await lines(w);
    prePrune = join(w.dir, "store-before");
    await cp(w.store, prePrune, { recursive: true });
  }, 120_000);
  afterAll(async () => w?.cleanup());

  it("refuses without an age, with an age below the floor, or a malformed one (64)", async () => {
    expect((await guardIn(w, ["store", "prune"])).code).toBe(64);
    const young = await guardIn(w, ["store", "prune", "--older-than", "1d"]);
    expect(young.code).toBe(64);
    expect(young.stderr).toContain("7d");
    expect((await guardIn(w, ["store", "prune", "--older-than", "90 days"])).code).toBe(64);
    expect(await lines(w)).toEqual(before);
  });

  it("without --older-than, `retention:` in guard.config.yaml decides (and is held to the same floor)", async () => {
    const config = join(w.dir, "guard.config.yaml");
    try {
      await writeFile(config, "retention: 2d\n");
      const young = await guardIn(w, ["store", "prune"]);
      expect(young.code).toBe(64);
      expect(young.stderr).toContain("`retention:` 2d");
      await writeFile(config, "retention: 8d\n");
      const dry = await guardIn(w, ["store", "prune", "--dry-run", "--json"]);
      expect(dry.code).toBe(0);
      expect((JSON.parse(dry.stdout) as { retired: string[] }).retired).toEqual([consumed, denied, unapproved].sort());
    } finally {
      await rm(config, { force: true });
    }
    expect(await lines(w)).toEqual(before);
  });

  it("--dry-run shows what would be retired and changes nothing", async () => {
    const r = await guardIn(w, ["store", "prune", "--older-than", "8d", "--dry-run", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { requests: number; retired: string[]; checkpoint: unknown; dryRun: boolean };
    expect(out.dryRun).toBe(true);
    expect(out.retired).toEqual([consumed, denied, unapproved].sort());
    expect(out.checkpoint).toBeNull();
    const human = await guardIn(w, ["store", "prune", "--older-than", "8d", "--dry-run"]);
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/would retire \d+ events \(through event \d+\) and 3 requests with 2 approval records and 1 consumption, expired before /);
    expect(human.stderr).toContain("(not written)");
    expect(await lines(w)).toEqual(before);
    expect(existsSync(join(w.store, "archive"))).toBe(false);
  });

  it("retires the old history into an archive and appends a checkpoint; the rest verifies", async () => {
    // `audit log --since` builds its seek index (index/audit-seek) over the log as it is before the prune.
    const sinceBefore = await guardIn(w, ["audit", "log", "--since", "1d", "--json"]);
    expect(sinceBefore.code, sinceBefore.stderr).toBe(0);
    expect(existsSync(join(w.store, "index", "audit-seek"))).toBe(true);
    const r = await guard(w, ["store", "prune", "--older-than", "8d", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { retired: string[]; events: number; consumptions: number; approvals: number; archive: { path: string; sha256: string }; checkpoint: { seq: number } };
    expect(out.retired).toEqual([consumed, denied, unapproved].sort());
    expect(out.consumptions).toBe(1);
    expect(out.approvals).toBe(2); // the approval and the denial
    archive = out.archive.path;
    expect(existsSync(archive)).toBe(true);
    const after = await lines(w);
    // The retired prefix is gone, the rest is byte for byte what it was, then the checkpoint.
    expect(after.slice(0, -1)).toEqual(before.slice(out.events));
    const cp = JSON.parse(after.at(-1)!) as { type: string; seq: number; data: { through: { seq: number; hash: string }; archive: { sha256: string } } };
    expect(cp.type).toBe("store.pruned");
    expect(cp.data.through.seq).toBe(out.events);
    expect(cp.data.archive.sha256).toBe(out.archive.sha256);
    for (const id of out.retired) expect(existsSync(join(w.store, "requests", `${id}.json`))).toBe(false);
    expect(existsSync(join(w.store, "consumed", `${consumed}.json`))).toBe(false);
    expect(existsSync(join(w.store, "requests", `${recent}.json`))).toBe(true);

    const v = await verify();
    expect(v.v.problems).toEqual([]);
    expect(v.code).toBe(0);
    // The index of the log before the prune names offsets that no longer hold those events: --since
    // still shows exactly the recent events of the log as it is now (the checkpoint included).
    const since = await guardIn(w, ["audit", "log", "--since", "1d", "--json"]);
    expect(since.code, since.stderr).toBe(0);
    const recentSeqs = after.map((l) => JSON.parse(l) as { seq: number; time: string }).filter((e) => Date.parse(e.time) >= Date.now() - 86_400_000).map((e) => e.seq);
    expect(recentSeqs.length).toBeGreaterThan(1);
    expect(since.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(recentSeqs);
    const text = await guardIn(w, ["audit", "verify"]);
    expect(text.stdout).toMatch(/starts at event \d+: events before it were retired by guard store prune/);
    expect(text.stdout).toContain("✔ audit log verifies");
    const withArchive = await verify(["--archive", archive]);
    expect(withArchive.v.problems).toEqual([]);
    expect(withArchive.code).toBe(0);
    // Nothing more to retire: a second prune changes nothing.
    const again = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"]);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { through: unknown }).through).toBeNull();
  });

  it("an anchor in the retired part needs the archive; with it, it is checked", async () => {
    const second = JSON.parse(before[1]!) as { seq: number; hash: string };
    const without = await verify(["--anchor", `${second.seq}:${second.hash}`]);
    expect(without.code).toBe(65);
    expect(without.v.problems.join("\n")).toContain("--archive");
    expect((await verify(["--anchor", `${second.seq}:${second.hash}`, "--archive", archive])).code).toBe(0);
    const forged = await verify(["--anchor", `${second.seq}:${"0".repeat(64)}`, "--archive", archive]);
    expect(forged.code).toBe(65);
    // The head before the prune is still in the log.
    const oldHead = JSON.parse(before.at(-1)!) as { seq: number; hash: string };
    expect((await verify(["--anchor", `${oldHead.seq}:${oldHead.hash}`])).code).toBe(0);
  });

  it("a log whose head was cut without a checkpoint fails (65)", async () => {
    const cut = join(w.dir, "store-cut");
    await cp(prePrune, cut, { recursive: true });
    await writeFile(join(cut, "audit", "events.jsonl"), `${before.slice(3).join("\n")}\n`);
    const v = await verify([], cut);
    expect(v.code).toBe(65);
    expect(v.v.problems.join("\n")).toContain("head removed");
  });

  it("an altered or swapped archive fails (65)", async () => {
    const text = gunzipSync(await readFile(archive)).toString("utf8");
    const altered = join(w.dir, "altered.jsonl.gz");
    await writeFile(altered, gzipSync(Buffer.from(text.replace("--ticket=consumed", "--ticket=c0nsumed"))));
    const a = await verify(["--archive", altered]);
    expect(a.code).not.toBe(0);
    // Consistent with itself (manifest recomputed) but not the archive the checkpoint names.
    const rest = text.split("\n");
    const manifest = JSON.parse(rest[0]!) as { events: { sha256: string } };
    const recompressed = join(w.dir, "recompressed.jsonl.gz");
    await writeFile(recompressed, gzipSync(Buffer.from([JSON.stringify(manifest), ...rest.slice(1)].join("\n")), { level: 1 }));
    const b = await verify(["--archive", recompressed]);
    expect(b.code).toBe(65);
    expect(b.v.problems.join("\n")).toContain("not the one the store.pruned checkpoint");
  });

  it("an archive swapped after it was checked and before verify read it again fails (65): the read says it changed", async () => {
    const { readArchive } = await import("../../src/adapters/store/archive.js");
    const { verifyStore } = await import("../../src/commands/audit.js");
    const { openFileStore } = await import("../../src/adapters/store/file.js");
    const copy = join(w.dir, "swapped.jsonl.gz");
    await writeFile(copy, await readFile(archive));
    const checked = await readArchive(copy);
    const store = await openFileStore(w.store, { create: false });
    try {
      expect((await verifyStore(store, { archives: [checked] })).ok).toBe(true);
      // The same lines, compressed anew: another file, though every line and digest is the same.
      await writeFile(copy, gzipSync(gunzipSync(await readFile(archive)), { level: 1 }));
      const v = await verifyStore(store, { archives: [checked] });
      expect(v.ok).toBe(false);
      expect(v.problems.join("\n")).toContain(`the archive ${copy} changed while it was being read (its SHA-256 differs)`);
    } finally {
      await store.close();
    }
  });

  it("an archive consistent with its own manifest whose records guard never archives (hostile text, a null approval, another request's consumption) fails (65), named and escaped, never a crash", async () => {
    const { partDigest } = await import("../../src/core/prune.js");
    const lines = gunzipSync(await readFile(archive)).toString("utf8").trimEnd().split("\n");
    const manifest = JSON.parse(lines[0]!) as { events: { count: number }; records: { sha256: string } };
    const events = lines.slice(1, 1 + manifest.events.count);
    const records = lines.slice(1 + manifest.events.count).map((l) => JSON.parse(l) as { request: { request: Record<string, unknown> }; approvals: unknown[]; consumption: Record<string, unknown> | null });
    type Rec = (typeof records)[number];
    const consumed = records.findIndex((r) => r.consumption !== null);
    expect(consumed).toBeGreaterThanOrEqual(0);
    const damages: Array<[string, number, (r: Rec) => void, RegExp]> = [
      ["a field guard never writes", records.length - 1, (r) => void (r.request.request["\u001b]8;;https://evil\u0007x"] = 1), /request record is malformed: request\.\\\\x1b\]8;;https:\/\/evil\\\\x07x/],
      ["a null approval", records.length - 1, (r) => void r.approvals.push(null), /approval record is malformed: \(root\)/],
      ["another request's consumption", consumed, (r) => void (r.consumption = { ...r.consumption, requestId: "r-aaaaaaaaaaaaaaaaaaaa" }), /the consumption of another request/],
      ["a consumption with hostile text", consumed, (r) => void (r.consumption = { ...r.consumption, host: 7, "\u001b[2J": 1 }), /consumption record is malformed: \\\\x1b\[2J/],
    ];
    for (const [name, at, damage, reason] of damages) {
      const mine = records.map((r) => structuredClone(r));
      damage(mine[at]!);
      const recordLines = mine.map((r) => JSON.stringify(r));
      const forged = join(w.dir, "forged.jsonl.gz");
      await writeFile(forged, gzipSync(Buffer.from([JSON.stringify({ ...manifest, records: { ...manifest.records, sha256: partDigest(recordLines) } }), ...events, ...recordLines].join("\n") + "\n")));
      const r = await guardIn(w, ["audit", "verify", "--archive", forged]);
      expect(r.code, name).toBe(65);
      // (the field's escape, escaped again with the rest of the message: backslashes doubled, nothing raw)
      expect(r.stdout, name).toMatch(new RegExp(`holds a record guard never archives \\(record ${at + 1}: ${reason.source}`));
      for (const text of [r.stdout, r.stderr]) expect(text, name).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    }
  });

  it("a retired request put back (with its approval) is refused as expired, and verify reports it as left over", async () => {
    const text = gunzipSync(await readFile(archive)).toString("utf8").trimEnd().split("\n");
    const records = text.slice(1 + (JSON.parse(text[0]!) as { events: { count: number } }).events.count).map((l) => JSON.parse(l) as { request: { request: { id: string } }; approvals: unknown[] });
    const rec = records.find((r) => r.request.request.id === consumed)!;
    await writeFile(join(w.store, "requests", `${consumed}.json`), JSON.stringify(rec.request, null, 2));
    const { canonicalJson, sha256Hex } = await import("../../src/core/canonical.js");
    await mkdir(join(w.store, "approvals", consumed), { recursive: true, mode: 0o700 });
    for (const a of rec.approvals) await writeFile(join(w.store, "approvals", consumed, `${sha256Hex(canonicalJson(a))}.json`), JSON.stringify(a, null, 2));
    const r = await guardIn(w, ["run", "--request", consumed, "--confirm", "production"], { as: "alice", env: PROD });
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/expired/);
    expect(r.stdout).not.toContain("purged");
    const v = await verify();
    expect(v.code).toBe(0);
    expect(v.v.leftovers.join("\n")).toContain(consumed);
    // The next prune removes what was put back.
    const p = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"]);
    expect(p.code).toBe(0);
    expect((JSON.parse(p.stdout) as { leftovers: number }).leftovers).toBe(1);
    expect(existsSync(join(w.store, "requests", `${consumed}.json`))).toBe(false);
  });

  it("the recent request still runs once (its index offsets were rewritten), and only once", async () => {
    const created = (await readdir(join(w.store, "index", "created"))).sort();
    expect(created).toContain(recent);
    expect(created).not.toContain(consumed);
    const off = Number(await readFile(join(w.store, "index", "created", recent), "utf8"));
    const log = await readFile(join(w.store, "audit", "events.jsonl"));
    const at = JSON.parse(log.subarray(off, log.indexOf(10, off)).toString("utf8")) as { type: string; data: { requestId: string } };
    expect(at).toMatchObject({ type: "request.created", data: { requestId: recent } });
    const ok = await guardIn(w, ["run", "--request", recent, "--confirm", "production"], { as: "alice", env: PROD });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("purged");
    const replay = await guardIn(w, ["run", "--request", recent, "--confirm", "production"], { as: "alice", env: PROD });
    expect(replay.code).not.toBe(0);
    expect(replay.stdout).not.toContain("purged");
    expect((await verify()).code).toBe(0);
  });

  it("crash points: before the commit only a stray archive is left; after it, left-over records that verify reports and the next prune removes", async () => {
    // After the commit point (the new log renamed in), before the records were removed: put them all back.
    const crashed = join(w.dir, "store-crashed");
    await cp(prePrune, crashed, { recursive: true });
    const env = { GUARD_STORE: `file:${crashed}` };
    const p = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"], { env });
    expect(p.code).toBe(0);
    for (const d of ["requests", "approvals", "consumed"]) await cp(join(prePrune, d), join(crashed, d), { recursive: true, force: false, errorOnExist: false });
    expect(existsSync(join(crashed, "consumed", `${consumed}.json`))).toBe(true);
    const v = await verify([], crashed);
    expect(v.v.problems).toEqual([]);
    expect(v.code).toBe(0);
    expect(v.v.leftovers).toHaveLength(3);
    const again = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"], { env });
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { leftovers: number }).leftovers).toBe(3);
    expect(existsSync(join(crashed, "consumed", `${consumed}.json`))).toBe(false);
    expect(existsSync(join(crashed, "approvals", denied))).toBe(false);
    expect((await verify([], crashed)).v.leftovers).toEqual([]);

    // Before the commit point: the archive written, the log not yet replaced. The store is as it was and
    // verifies; a new prune writes its own archive beside the stray one.
    const early = join(w.dir, "store-early");
    await cp(prePrune, early, { recursive: true });
    await mkdir(join(early, "archive"));
    await cp(join(crashed, "archive"), join(early, "archive"), { recursive: true });
    expect((await verify([], early)).code).toBe(0);
    const later = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"], { env: { GUARD_STORE: `file:${early}` } });
    expect(later.code).toBe(0);
    expect((await readdir(join(early, "archive"))).length).toBe(2);
    expect((await verify(["--archive", (JSON.parse(later.stdout) as { archive: { path: string } }).archive.path], early)).code).toBe(0);
  });

  /**
   * A `node -r` preload for the pruning guard: when it creates the new log (after reading the old one,
   * planning and writing the archive, before the commit) it runs another guard to the end, synchronously,
   * and records that guard's exit status. That other guard needs the audit lock: if the prune held it
   * now, the other guard would wait 10 s and give up (74).
   */
  const meanwhileHook = `
const fs = require("node:fs");
const { spawnSync } = require("node:child_process");
const open = fs.promises.open;
let done = false;
fs.promises.open = async function (p, ...rest) {
  if (!done && /[\\/]\\.events\\.jsonl\\.[0-9a-f]+\\.tmp$/.test(String(p))) {
    done = true;
    const m = JSON.parse(process.env.MEANWHILE);
    const r = spawnSync(process.execPath, [process.argv[1], ...m.args], { env: { ...process.env, ...m.env }, encoding: "utf8" });
    fs.writeFileSync(m.report, JSON.stringify({ code: r.status, stderr: r.stderr }));
  }
  return open.call(this, p, ...rest);
};
`;
  const pruneWhile = async (store: string, args: string[], env: Record<string, string>): Promise<{ prune: { code: number; stdout: string; stderr: string }; meanwhile: { code: number; stderr: string } }> => {
    const hook = join(w.dir, "meanwhile.cjs");
    await writeFile(hook, meanwhileHook);
    const report = join(w.dir, `meanwhile-${Math.random().toString(36).slice(2)}.json`);
    const prune = await guard(w, ["store", "prune", "--older-than", "8d", "--json"], {
      node: ["-r", hook],
      env: { GUARD_STORE: `file:${store}`, MEANWHILE: JSON.stringify({ args, env: { GUARD_KEY: w.people.alice!.key, ...env }, report }) },
    });
    return { prune, meanwhile: JSON.parse(await readFile(report, "utf8")) as { code: number; stderr: string } };
  };

  it("runs go on while a prune reads and plans: what they append meanwhile is kept, chained, before the checkpoint", async () => {
    const store = join(w.dir, "store-meanwhile");
    await cp(prePrune, store, { recursive: true });
    const { prune, meanwhile } = await pruneWhile(store, ["run", "--", "./maintenance/report-lb-state.sh"], PROD);
    expect(meanwhile.code, meanwhile.stderr).toBe(0);
    expect(prune.code, prune.stderr).toBe(0);
    const out = JSON.parse(prune.stdout) as { events: number; retired: string[]; archive: { path: string }; checkpoint: { seq: number } };
    expect(out.retired).toEqual([consumed, denied, unapproved].sort());
    const after = (await readFile(join(store, "audit", "events.jsonl"), "utf8")).trimEnd().split("\n");
    // The retired prefix gone; the rest byte for byte; then the run's two events; then the checkpoint.
    expect(after.slice(0, before.length - out.events)).toEqual(before.slice(out.events));
    const added = after.slice(before.length - out.events).map((l) => JSON.parse(l) as { type: string; seq: number });
    expect(added.map((e) => e.type)).toEqual(["run.started", "run.finished", "store.pruned"]);
    expect(added.at(-1)!.seq).toBe(out.checkpoint.seq);
    const v = await verify(["--archive", out.archive.path], store);
    expect(v.v.problems).toEqual([]);
    expect(v.code).toBe(0);
  });

  it("a prune whose retired request is named by an event appended meanwhile retires nothing (74) and says to run it again", async () => {
    const store = join(w.dir, "store-named-meanwhile");
    await cp(prePrune, store, { recursive: true });
    const logBefore = await readFile(join(store, "audit", "events.jsonl"), "utf8");
    // Running the consumed (and long expired) request again: refused, and recorded naming it.
    const { prune, meanwhile } = await pruneWhile(store, ["run", "--request", consumed, "--confirm", "production"], PROD);
    expect(meanwhile.code).not.toBe(0);
    expect(prune.code, prune.stderr).toBe(74);
    expect(prune.stderr).toContain(`request ${consumed}, which this prune retires, was named by a new audit event`);
    expect(prune.stderr).toContain("run guard store prune again");
    const logAfter = await readFile(join(store, "audit", "events.jsonl"), "utf8");
    // Nothing retired: the log is what it was, with the refused run's event(s) after it.
    expect(logAfter.startsWith(logBefore)).toBe(true);
    expect(logAfter.length).toBeGreaterThan(logBefore.length);
    expect(existsSync(join(store, "requests", `${consumed}.json`))).toBe(true);
    expect(existsSync(join(store, "consumed", `${consumed}.json`))).toBe(true);
    expect((await readdir(join(store, "audit"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect((await verify([], store)).code).toBe(0);
    // The next prune keeps that request (a later event names it) and retires the others.
    const again = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"], { env: { GUARD_STORE: `file:${store}` } });
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { retired: string[] }).retired).not.toContain(consumed);
    expect((await verify([], store)).code).toBe(0);
  });

  it("a log replaced while it was being pruned (another prune) is not replaced again (74), and nothing is removed", async () => {
    const store = join(w.dir, "store-replaced-meanwhile");
    await cp(prePrune, store, { recursive: true });
    // Meanwhile: another prune of the same store, run to the end.
    const { prune, meanwhile } = await pruneWhile(store, ["store", "prune", "--older-than", "8d"], {});
    expect(meanwhile.code, meanwhile.stderr).toBe(0);
    expect(prune.code, prune.stderr).toBe(74);
    expect(prune.stderr).toContain("was replaced or cut while it was being pruned");
    expect((await readdir(join(store, "audit"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    const v = await verify([], store);
    expect(v.v.problems).toEqual([]);
    expect(v.code).toBe(0);
  });

  /**
   * The store's own prune, in process (as the command calls it once the store verified), with `act` done
   * to the log between two of the prune's reads of it: after the plan's read (`plan`: as the requests are
   * listed), or after the archive's read (`archive`: as the retired records are read, before the archive
   * is written and the kept events are copied into the new log). Real files throughout.
   */
  const pruneBetween = async (store: string, when: "plan" | "archive", act: (log: string) => Promise<void>): Promise<{ out: { events: number; archive: { path: string } | null; checkpoint: unknown } | null; err: { exitCode: number; message: string } | null }> => {
    const { openFileStore } = await import("../../src/adapters/store/file.js");
    const s = await openFileStore(store, { create: false });
    const own = s as unknown as Record<string, (...a: unknown[]) => AsyncIterable<unknown>>;
    const name = when === "plan" ? "recordBatches" : "retiredRecords";
    const read = own[name]!.bind(s);
    let done = false;
    own[name] = async function* (...a: unknown[]) {
      if (!done) {
        done = true;
        await act(join(store, "audit", "events.jsonl"));
      }
      yield* read(...a);
    };
    try {
      const out = await s.prune!({ cutoffMs: Date.now() - 8 * 86_400_000, olderThan: "8d", actor: { principal: null, fingerprint: null, user: "test" }, archiveDir: null, dryRun: false });
      return { out, err: null };
    } catch (e) {
      return { out: null, err: e as { exitCode: number; message: string } };
    } finally {
      await s.close();
    }
  };
  /** Overwrite the first `from` in the log with `to` (as long), in place: the same file, the same size. */
  const editInPlace = (from: string, to: string) => async (log: string): Promise<void> => {
    expect(Buffer.byteLength(to)).toBe(Buffer.byteLength(from));
    const at = (await readFile(log)).indexOf(from);
    expect(at).toBeGreaterThan(0);
    const fh = await open(log, "r+");
    try {
      await fh.write(Buffer.from(to), 0, Buffer.byteLength(to), at);
    } finally {
      await fh.close();
    }
  };
  /** Nothing was removed: the log holds exactly `log`, every record is there, no temporary file is left. */
  const untouched = async (store: string, log: string): Promise<void> => {
    expect(await readFile(join(store, "audit", "events.jsonl"), "utf8")).toBe(log);
    for (const id of [consumed, denied, unapproved, recent]) expect(existsSync(join(store, "requests", `${id}.json`)), id).toBe(true);
    expect(existsSync(join(store, "consumed", `${consumed}.json`))).toBe(true);
    expect(existsSync(join(store, "approvals", denied))).toBe(true);
    expect((await readdir(join(store, "audit"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  };

  it("the log changed in place between the plan's read and the archive's: refused (65), nothing removed, no archive written, the log as it was left", async () => {
    const store = join(w.dir, "store-changed-before-archive");
    await cp(prePrune, store, { recursive: true });
    const { out, err } = await pruneBetween(store, "plan", editInPlace("--ticket=consumed", "--ticket=c0nsumed"));
    expect(out).toBeNull();
    expect(err?.exitCode).toBe(65);
    expect(err?.message).toBe(`the audit log ${join(store, "audit", "events.jsonl")} changed while it was being pruned: its first ${Buffer.byteLength(`${before.join("\n")}\n`)} bytes are not what an earlier read of them found; nothing was removed`);
    await untouched(store, `${before.join("\n")}\n`.replace("--ticket=consumed", "--ticket=c0nsumed"));
    expect(existsSync(join(store, "archive"))).toBe(false);
  });

  it("the log replaced (a new file, the same text) or cut between the plan's read and the archive's: refused (74, run it again), nothing removed", async () => {
    const text = `${before.join("\n")}\n`;
    const cases: Array<[string, (log: string) => Promise<void>, string]> = [
      ["replaced", async (log) => {
        await writeFile(`${log}.new`, text);
        await rename(`${log}.new`, log);
      }, text],
      ["cut", async (log) => truncate(log, text.length - before.at(-1)!.length - 1), `${before.slice(0, -1).join("\n")}\n`],
    ];
    for (const [what, act, left] of cases) {
      const store = join(w.dir, `store-${what}-before-archive`);
      await cp(prePrune, store, { recursive: true });
      const { out, err } = await pruneBetween(store, "plan", act);
      expect(out, what).toBeNull();
      expect(err?.exitCode, what).toBe(74);
      expect(err?.message, what).toBe(`the audit log ${join(store, "audit", "events.jsonl")} was replaced or cut while it was being pruned (another guard store prune?); nothing was removed; run guard store prune again`);
      await untouched(store, left);
      expect(existsSync(join(store, "archive")), what).toBe(false);
    }
  });

  it("the kept events changed in place after the archive was made, before they were copied: refused (65), the archive written is not referenced, nothing removed", async () => {
    const store = join(w.dir, "store-changed-after-archive");
    await cp(prePrune, store, { recursive: true });
    const { out, err } = await pruneBetween(store, "archive", editInPlace("--ticket=recent", "--ticket=rec3nt"));
    expect(out).toBeNull();
    expect(err?.exitCode).toBe(65);
    expect(err?.message).toContain("changed while it was being pruned");
    expect(err?.message).toContain("nothing was removed; the archive written is not referenced");
    await untouched(store, `${before.join("\n")}\n`.replace("--ticket=recent", "--ticket=rec3nt"));
    expect((await readdir(join(store, "archive"))).length).toBe(1); // written, referenced by nothing
  });

  it("an event appended between the plan's read and the archive's is no change: the archive holds the retired events byte for byte, and the new event is kept before the checkpoint", async () => {
    const store = join(w.dir, "store-appended-before-archive");
    await cp(prePrune, store, { recursive: true });
    const { openFileStore } = await import("../../src/adapters/store/file.js");
    const { out, err } = await pruneBetween(store, "plan", async () => {
      const other = await openFileStore(store, { create: false });
      try {
        await other.appendAudit({ type: "test.meanwhile", actor: { principal: null, fingerprint: null, user: "carol" }, data: { requestId: null } });
      } finally {
        await other.close();
      }
    });
    expect(err).toBeNull();
    const after = (await readFile(join(store, "audit", "events.jsonl"), "utf8")).trimEnd().split("\n");
    expect(after.slice(0, -2)).toEqual(before.slice(out!.events));
    expect(after.slice(-2).map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(["test.meanwhile", "store.pruned"]);
    // The archive is what encodeArchive makes of the retired lines and records: nothing else went in.
    const { encodeArchive } = await import("../../src/adapters/store/archive.js");
    const bytes = await readFile(out!.archive!.path);
    const archived = gunzipSync(bytes).toString("utf8").trimEnd().split("\n");
    const manifest = JSON.parse(archived[0]!) as Parameters<typeof encodeArchive>[0];
    expect(archived.slice(1, 1 + out!.events)).toEqual(before.slice(0, out!.events));
    expect(encodeArchive(manifest, before.slice(0, out!.events), archived.slice(1 + out!.events)).equals(bytes)).toBe(true);
    const v = await verify(["--archive", out!.archive!.path], store);
    expect(v.v.problems).toEqual([]);
    expect(v.code).toBe(0);
  });

  it("the new log a stopped prune left behind is removed by the next prune once an hour old; a fresh one (a prune under way) is kept", async () => {
    const store = join(w.dir, "store-stray-temp");
    await cp(prePrune, store, { recursive: true });
    const audit = join(store, "audit");
    const stale = join(audit, ".events.jsonl.0123456789abcdef.tmp");
    const fresh = join(audit, ".events.jsonl.fedcba9876543210.tmp");
    const other = join(audit, ".events.jsonl.not-a-prune.tmp");
    for (const f of [stale, fresh, other]) await writeFile(f, `${before.join("\n")}\n`);
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(stale, twoHoursAgo, twoHoursAgo);
    await utimes(other, twoHoursAgo, twoHoursAgo);
    const r = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"], { env: { GUARD_STORE: `file:${store}` } });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(other)).toBe(true); // not a name a prune writes
    expect((await verify([], store)).code).toBe(0);
  });

  it("a forged checkpoint cannot excuse a planted request that can still run", async () => {
    // A store whose log ends before the recent request was created: its record is planted (no
    // request.created). A forged store.pruned, chained properly, names it as retired with a cutoff far ahead.
    const forged = join(w.dir, "store-forged");
    await cp(prePrune, forged, { recursive: true });
    const k = before.findIndex((l) => l.includes('"type":"request.created"') && l.includes(recent));
    const kept = before.slice(0, k);
    const { chainEvent } = await import("../../src/core/audit.js");
    const { canonicalJson } = await import("../../src/core/canonical.js");
    const last = JSON.parse(kept.at(-1)!) as { seq: number; hash: string };
    const fake = chainEvent(last, {
      type: "store.pruned",
      actor: { principal: null, fingerprint: null, user: "mallory" },
      data: { cutoff: "2100-01-01T00:00:00.000Z", through: { seq: 0, hash: "0".repeat(64) }, retired: [recent], archive: { name: "x", sha256: "a".repeat(64), bytes: 1 } },
    }, new Date().toISOString());
    await writeFile(join(forged, "audit", "events.jsonl"), `${[...kept, canonicalJson(fake)].join("\n")}\n`);
    const v = await verify([], forged);
    expect(v.code).toBe(65);
    expect(v.v.leftovers).toEqual([]);
    expect(v.v.problems.join("\n")).toContain(`request ${recent} is in the store but the audit log has no request.created event`);
  });

  it("a store that does not verify is not pruned (65)", async () => {
    const bad = join(w.dir, "store-bad");
    await cp(prePrune, bad, { recursive: true });
    await writeFile(join(bad, "audit", "events.jsonl"), `${before.slice(3).join("\n")}\n`);
    const r = await guardIn(w, ["store", "prune", "--older-than", "8d"], { env: { GUARD_STORE: `file:${bad}` } });
    expect(r.code).toBe(65);
    expect(r.stderr).toContain("does not verify");
    const last = JSON.parse((await readFile(join(bad, "audit", "events.jsonl"), "utf8")).trimEnd().split("\n").at(-1)!) as { type: string; data: { code: string } };
    expect(last).toMatchObject({ type: "store.refused", data: { code: "tampered" } });
  });
});

describe("issue 18: prunes one after another; with every archive, verify checks everything that was", () => {
  let w: World;
  afterAll(async () => w?.cleanup());

  it("two prunes (the second retires the first's checkpoint): the log verifies, each archive is checked, a missing or extra one is reported", async () => {
    w = await makeWorld();
    const at = async (days: number): Promise<string[]> => {
      const hook = join(w.dir, `${days}-days-ago.cjs`);
      await writeFile(hook, pastClockHook(days));
      return ["-r", hook];
    };
    const cycle = async (ticket: string, node: string[]): Promise<void> => {
      const r = await guard(w, ["run", "--confirm", "production", "--reason", ticket, "--", PURGE, `--ticket=${ticket}`], { as: "alice", env: PROD, node });
      const id = requestIdIn(r.stderr);
      expect((await guard(w, ["approve", id, "--yes"], { as: "bob", node })).code).toBe(0);
      expect((await guard(w, ["run", "--request", id, "--confirm", "production"], { as: "alice", env: PROD, node })).code).toBe(0);
    };
    await cycle("thirty", await at(30));
    // Fifteen days ago, a prune of what is older than eight days then (the thirty-day-old history).
    const first = await guard(w, ["store", "prune", "--older-than", "8d", "--json"], { node: await at(15) });
    expect(first.code).toBe(0);
    const a1 = (JSON.parse(first.stdout) as { archive: { path: string }; requests: number }).archive.path;
    await cycle("fifteen", await at(15));
    // Now: the fifteen-day-old history goes, and with it the first prune's checkpoint.
    const second = await guardIn(w, ["store", "prune", "--older-than", "8d", "--json"]);
    expect(second.code).toBe(0);
    const out2 = JSON.parse(second.stdout) as { archive: { path: string }; requests: number };
    expect(out2.requests).toBe(1);
    const a2 = out2.archive.path;
    const archived = gunzipSync(await readFile(a2)).toString("utf8");
    expect(archived).toContain('"type":"store.pruned"');

    const v = async (...args: string[]): Promise<{ code: number; problems: string[] }> => {
      const r = await guardIn(w, ["audit", "verify", "--json", ...args]);
      return { code: r.code, problems: (JSON.parse(r.stdout) as { problems: string[] }).problems };
    };
    expect(await v()).toEqual({ code: 0, problems: [] });
    expect(await v("--archive", a2)).toEqual({ code: 0, problems: [] }); // the later archive alone: its start is accounted for by the checkpoint it holds
    expect(await v("--archive", a1, "--archive", a2)).toEqual({ code: 0, problems: [] }); // everything that was, from event 1
    expect(await v("--archive", a2, "--archive", a1)).toEqual({ code: 0, problems: [] }); // in any order
    const first1 = JSON.parse((await lines(w))[0]!) as { seq: number };
    expect(first1.seq).toBeGreaterThan(1);
    // The first archive without the second: a gap between them.
    const gap = await v("--archive", a1);
    expect(gap.code).toBe(65);
    expect(gap.problems.join("\n")).toMatch(/sequence gap|missing/);
  }, 120_000);
});
