import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFileStore } from "../../src/adapters/store/file.js";
import { AuditVerifier } from "../../src/core/audit.js";
import { collect } from "./contract.js";
import { makeConsumption, makeDraft, makeRequest } from "./fixtures.js";

/**
 * The real code in real, separate processes: the store module is bundled with esbuild and driven by a
 * small worker script, so O_EXCL consumption and the audit lock are tested across processes (A12) and
 * write failures are real ones (S8): EACCES for an unprivileged user, ENOSPC on a full tmpfs and EROFS
 * on a read-only bind mount (the last two in a private mount namespace, when this machine allows one).
 */

const WORKER = `
import { openFileStore } from "./store.mjs";
import { AuditVerifier } from "./store.mjs";
const [cmd, dir, arg] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
try {
  const store = await openFileStore(dir, { create: cmd === "fill", lockTimeoutMs: 60000 });
  say({ ready: true });
  // Released by a line on stdin, written to every worker at once: no polling while the others start.
  await new Promise((r) => process.stdin.once("data", r).once("end", r));
  process.stdin.destroy();
  if (cmd === "consume") {
    say({ ok: await store.consume({ requestId: arg, requestDigest: "12".repeat(32), consumedAt: new Date().toISOString(), by: { principal: "alice", fingerprint: "SHA256:a" }, host: "h", pid: process.pid }) });
  } else if (cmd === "append") {
    for (let i = 0; i < Number(arg); i++) await store.appendAudit({ type: "policy.error", actor: { principal: null, fingerprint: null }, data: { message: "from " + process.pid + " #" + i } });
    say({ ok: true });
  } else if (cmd === "fill") {
    let n = 0;
    let error = null;
    try {
      for (;;) { await store.appendAudit({ type: "policy.error", actor: { principal: null, fingerprint: null }, data: { message: "x".repeat(1000) } }); n++; }
    } catch (e) { error = { message: e.message, exitCode: e.exitCode ?? null }; }
    const v = new AuditVerifier();
    for await (const e of store.readAudit()) v.push(e);
    const r = v.finish();
    say({ appended: n, error, verified: r.ok, events: r.events });
  }
  await store.close();
} catch (e) {
  say({ error: { message: e.message, exitCode: e.exitCode ?? null } });
}
`;

let work: string;
let worker: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "guard-mp-"));
  await chmod(work, 0o755); // an unprivileged worker must reach the bundle
  await writeFile(join(work, "entry.ts"), `export { openFileStore } from ${JSON.stringify(join(process.cwd(), "src/adapters/store/file.ts"))};\nexport { AuditVerifier } from ${JSON.stringify(join(process.cwd(), "src/core/audit.ts"))};\n`);
  await build({ entryPoints: [join(work, "entry.ts")], bundle: true, platform: "node", format: "esm", target: "node20", outfile: join(work, "store.mjs"), logLevel: "warning" });
  worker = join(work, "worker.mjs");
  await writeFile(worker, WORKER);
  await chmod(join(work, "store.mjs"), 0o644);
  await chmod(worker, 0o644);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

type Reply = { ready?: boolean; ok?: boolean; appended?: number; verified?: boolean; events?: number; error?: { message: string; exitCode: number | null } | null };

/** Start n workers, release them together once all are ready, and collect each one's final reply. */
async function race(n: number, args: string[], opts: SpawnOptions = {}, command = process.execPath, prefix: string[] = []): Promise<Reply[]> {
  let ready = 0;
  let release!: () => void;
  const allReady = new Promise<void>((r) => (release = r));
  const arrived = () => {
    if (++ready === n) release();
  };
  const children: ChildProcess[] = [];
  const runs = Array.from({ length: n }, () => {
    const child = spawn(command, [...prefix, worker, ...args], { ...opts, stdio: ["pipe", "pipe", "pipe"] });
    children.push(child);
    child.stdin!.on("error", () => undefined); // a worker that failed before the release has no reader
    let out = "";
    let err = "";
    let sawReady = false;
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (!sawReady && out.includes('"ready":true')) {
        sawReady = true;
        arrived();
      }
    });
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    return new Promise<Reply>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", () => {
        if (!sawReady) arrived(); // failed before ready: do not keep the others waiting
        const last = out.trim().split("\n").filter(Boolean).at(-1);
        if (last === undefined) return reject(new Error(`worker printed nothing; stderr: ${err}`));
        const reply = JSON.parse(last) as Reply;
        if (reply.ready) return reject(new Error(`worker stopped after ready; stderr: ${err}`));
        resolve(reply);
      });
    });
  });
  await Promise.race([allReady, Promise.all(runs)]);
  for (const child of children) child.stdin!.end("go\n");
  return Promise.all(runs);
}

async function freshStore(): Promise<string> {
  const parent = await mkdtemp(join(work, "s-"));
  await chmod(parent, 0o755);
  const dir = join(parent, "store");
  await (await openFileStore(dir)).close();
  return dir;
}

describe("across processes", () => {
  it("A12: 50 processes consume one approval at once: exactly one wins", async () => {
    const dir = await freshStore();
    const store = await openFileStore(dir);
    const r = makeRequest();
    await store.putRequest(r);
    const replies = await race(50, ["consume", dir, r.request.id]);
    expect(replies.filter((x) => x.error)).toEqual([]);
    expect(replies.filter((x) => x.ok === true)).toHaveLength(1);
    expect(replies.filter((x) => x.ok === false)).toHaveLength(49);
    expect(await store.getConsumption(r.request.id)).not.toBeNull();
    expect(await store.consume(makeConsumption(r.request.id))).toBe(false);
    await store.close();
  }, 120_000);

  it("12 processes appending 15 events each keep one valid chain of 180", async () => {
    const dir = await freshStore();
    const replies = await race(12, ["append", dir, "15"]);
    expect(replies.filter((x) => x.error)).toEqual([]);
    const store = await openFileStore(dir);
    const events = await collect(store.readAudit());
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 180 }, (_, i) => i + 1));
    const v = new AuditVerifier();
    for (const e of events) v.push(e);
    expect(v.finish()).toMatchObject({ ok: true, events: 180, problems: [] });
    await store.close();
  }, 120_000);
});

describe("S8: the audit log cannot be written", () => {
  const isRoot = process.geteuid?.() === 0;

  it("S8: a store the user may not write to: append fails with 74 and the log is unchanged", async () => {
    const dir = await freshStore();
    const store = await openFileStore(dir);
    await store.appendAudit(makeDraft(1));
    const before = await readFile(join(dir, "audit", "events.jsonl"));
    if (isRoot) {
      // chmod does not stop root: run the worker as an unprivileged user that owns the store.
      for (const p of [dir, join(dir, "audit"), join(dir, "audit", "events.jsonl")]) await chown(p, 65534, 65534);
      await chmod(join(dir, "audit"), 0o500);
      await chmod(join(dir, "audit", "events.jsonl"), 0o400);
      const [reply] = await race(1, ["append", dir, "1"], { uid: 65534, gid: 65534 });
      expect(reply!.error?.exitCode).toBe(74);
      expect(reply!.error?.message).toMatch(/EACCES/);
    } else {
      await chmod(join(dir, "audit"), 0o500);
      await chmod(join(dir, "audit", "events.jsonl"), 0o400);
      await expect(store.appendAudit(makeDraft(2))).rejects.toMatchObject({ exitCode: 74 });
    }
    expect(await readFile(join(dir, "audit", "events.jsonl"))).toEqual(before);
    await store.close();
  }, 60_000);

  const canUnshare = isRoot && spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"], { stdio: "ignore" }).status === 0;

  it.skipIf(!canUnshare)("S8: disk full (a 64 KiB tmpfs): append fails with 74 ENOSPC and leaves no torn line", async () => {
    const mnt = await mkdtemp(join(work, "full-"));
    const script = `mount -t tmpfs -o size=64k,mode=0700 none "$1" && exec "$2" "$3" fill "$1/store"`;
    const [reply] = await race(1, [], {}, "unshare", ["-m", "sh", "-c", script, "sh", mnt, process.execPath]);
    expect(reply!.appended).toBeGreaterThan(5);
    expect(reply!.error?.exitCode).toBe(74);
    expect(reply!.error?.message).toMatch(/ENOSPC/);
    expect(reply!.verified).toBe(true);
    expect(reply!.events).toBe(reply!.appended);
  }, 60_000);

  it.skipIf(!canUnshare)("S8: read-only file system: append fails with 74 EROFS and the log is unchanged", async () => {
    const dir = await freshStore();
    const store = await openFileStore(dir);
    await store.appendAudit(makeDraft(1));
    await mkdir(join(dir, "requests"), { mode: 0o700 }).catch(() => undefined);
    const before = await readFile(join(dir, "audit", "events.jsonl"));
    const script = `mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" "$3" append "$1" 1`;
    const [reply] = await race(1, [], {}, "unshare", ["-m", "sh", "-c", script, "sh", dir, process.execPath]);
    expect(reply!.error?.exitCode).toBe(74);
    expect(reply!.error?.message).toMatch(/EROFS/);
    expect(await readFile(join(dir, "audit", "events.jsonl"))).toEqual(before);
    await store.close();
  }, 60_000);
});
