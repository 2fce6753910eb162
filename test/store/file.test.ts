import { execFileSync } from "node:child_process";
import { appendFile, chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, utimes, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openFileStore } from "../../src/adapters/store/file.js";
import { withFileLock } from "../../src/adapters/store/lock.js";
import type { Store } from "../../src/adapters/store/types.js";
import { AuditVerifier } from "../../src/core/audit.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import { requestBindingKey } from "../../src/core/request.js";
import type { AuditEvent, SignedRequest } from "../../src/core/types.js";
import { collect, expectGuardError, verifyBothWays } from "./contract.js";
import { makeApproval, makeConsumption, makeDraft, makeRequest, newId } from "./fixtures.js";

const isRoot = process.geteuid?.() === 0;

let parent: string;
let dir: string;
let store: Store;

beforeEach(async () => {
  parent = await mkdtemp(join(tmpdir(), "guard-file-"));
  dir = join(parent, "store");
  store = await openFileStore(dir);
});

afterEach(async () => {
  await store.close();
  await rm(parent, { recursive: true, force: true });
});

/** As `guard audit verify` reads the log (raw lines first), checked against readAudit's events. */
const verifyLog = verifyBothWays;

async function appendN(n: number): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) out.push(await store.appendAudit(makeDraft(i)));
  return out;
}

/** Every path under root with its type, size and mtime: "nothing was touched" means this is unchanged. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(p: string): Promise<void> {
    const st = await lstat(p);
    out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs}`);
    if (st.isDirectory()) for (const n of (await readdir(p)).sort()) await walk(join(p, n));
  }
  await walk(root);
  return out;
}

const logPath = () => join(dir, "audit", "events.jsonl");

/** A break-glass request (stores look at `breakGlass` only). */
function breakGlass(createdAt = new Date()): SignedRequest {
  const r = makeRequest(newId(), createdAt);
  r.request.breakGlass = true;
  r.request.requirements = [];
  return r;
}

describe("opening", () => {
  it("creates the store on first use, private: directories 0700, files 0600", async () => {
    const r = makeRequest();
    await store.putRequest(r);
    expect((await stat(dir)).mode & 0o7777).toBe(0o700);
    expect((await stat(join(dir, "requests"))).mode & 0o7777).toBe(0o700);
    expect((await stat(join(dir, "requests", `${r.request.id}.json`))).mode & 0o7777).toBe(0o600);
    await store.consume(makeConsumption(r.request.id));
    expect((await stat(join(dir, "consumed", `${r.request.id}.json`))).mode & 0o7777).toBe(0o600);
    await store.appendAudit(makeDraft(1));
    expect((await stat(logPath())).mode & 0o7777).toBe(0o600);
    expect(store.description).toBe(`file:${dir}`);
  });

  it("a missing store is an I/O error (74) when not creating", async () => {
    await expectGuardError(openFileStore(join(parent, "nope"), { create: false }), 74);
  });

  it("a relative store path is a usage error (64)", async () => {
    await expectGuardError(openFileStore("relative/store"), 64);
  });

  it("S4: a world-writable store directory is refused (78)", async () => {
    await chmod(dir, 0o777);
    const e = await expectGuardError(openFileStore(dir), 78);
    expect(e.message).toContain("world-writable");
    expect(e.hint).toContain("install -d -m 2770 -g guard");
  });

  it("S4: a store directory that is a symlink is refused (78)", async () => {
    const link = join(parent, "link");
    await symlink(dir, link);
    expect((await expectGuardError(openFileStore(link), 78)).message).toContain("symlink");
  });

  it("a group-writable store that is not set up for sharing is refused (78)", async () => {
    await chmod(dir, 0o770);
    await expectGuardError(openFileStore(dir), 78);
  });

  it.skipIf(!isRoot)("S4: a store directory owned by another user is refused (78)", async () => {
    await chown(dir, 4321, 4321);
    expect((await expectGuardError(openFileStore(dir), 78)).message).toContain("uid 4321");
  });

  it("S4: a world-writable directory inside the store is refused (78)", async () => {
    await store.putRequest(makeRequest());
    await chmod(join(dir, "requests"), 0o777);
    await expectGuardError(store.listRequests(), 78);
  });

  it("a group-shared store (setgid, 2770) keeps what it creates group-writable", async () => {
    await chmod(dir, 0o2770);
    const shared = await openFileStore(dir);
    const r = makeRequest();
    await shared.putRequest(r);
    await shared.putApproval(r.request.id, makeApproval(r.request.id));
    await shared.consume(makeConsumption(r.request.id));
    await shared.appendAudit(makeDraft(1));
    expect((await stat(join(dir, "requests"))).mode & 0o7777).toBe(0o2770);
    expect((await stat(join(dir, "approvals", r.request.id))).mode & 0o7777).toBe(0o2770);
    expect((await stat(join(dir, "requests", `${r.request.id}.json`))).mode & 0o7777).toBe(0o660);
    expect((await stat(join(dir, "consumed", `${r.request.id}.json`))).mode & 0o7777).toBe(0o660);
    expect((await stat(logPath())).mode & 0o7777).toBe(0o660);
    await shared.close();
  });
});

describe("S4: planted symlinks and odd files", () => {
  it("S4: a request file that is a symlink is refused (65), naming it", async () => {
    const id = newId();
    await mkdir(join(dir, "requests"), { mode: 0o700 });
    const target = join(parent, "elsewhere.json");
    await writeFile(target, JSON.stringify(makeRequest(id)));
    await symlink(target, join(dir, "requests", `${id}.json`));
    const e = await expectGuardError(store.getRequest(id), 65);
    expect(e.message).toContain(join(dir, "requests", `${id}.json`));
    // H4: listing skips it and names it as damaged.
    expect((await store.listRequests()).damaged).toEqual([{ id, where: join(dir, "requests", `${id}.json`), problem: expect.stringContaining("symlink") }]);
  });

  it("S4: a consumed directory that is a symlink is refused (65)", async () => {
    const id = newId();
    const target = join(parent, "fake-consumed");
    await mkdir(target, { mode: 0o700 });
    await symlink(target, join(dir, "consumed"));
    expect((await expectGuardError(store.consume(makeConsumption(id)), 65)).message).toContain("symlink");
    await expectGuardError(store.getConsumption(id), 65);
    expect(await readdir(target)).toEqual([]);
  });

  it("S4: a planted symlink as a consumption record makes the request unusable (consume is false, read is 65)", async () => {
    const id = newId();
    await mkdir(join(dir, "consumed"), { mode: 0o700 });
    await symlink("/dev/null", join(dir, "consumed", `${id}.json`));
    expect(await store.consume(makeConsumption(id))).toBe(false);
    await expectGuardError(store.getConsumption(id), 65);
  });

  it("S4: an approvals directory of a request that is a symlink is refused (65)", async () => {
    const id = newId();
    await mkdir(join(dir, "approvals"), { mode: 0o700 });
    const target = join(parent, "more-approvals");
    await mkdir(target, { mode: 0o700 });
    await symlink(target, join(dir, "approvals", id));
    await expectGuardError(store.listApprovals(id), 65);
    await expectGuardError(store.putApproval(id, makeApproval(id)), 65);
    expect(await readdir(target)).toEqual([]);
  });

  it("S4: a FIFO planted as a record is refused without hanging", async () => {
    const id = newId();
    await mkdir(join(dir, "requests"), { mode: 0o700 });
    execFileSync("mkfifo", [join(dir, "requests", `${id}.json`)]);
    await expectGuardError(store.getRequest(id), 65);
  });

  it("S4: the audit log as a symlink is refused (65)", async () => {
    await mkdir(join(dir, "audit"), { mode: 0o700 });
    await writeFile(join(parent, "other.jsonl"), "");
    await symlink(join(parent, "other.jsonl"), logPath());
    await expectGuardError(store.appendAudit(makeDraft(1)), 65);
    await expectGuardError(collect(store.readAudit()), 65);
  });

  it("H4: an unexpected file among the requests is listed as damaged, the others still listed; our own temporary files are ignored", async () => {
    await store.putRequest(makeRequest());
    await writeFile(join(dir, "requests", ".r-x.json.0011223344556677.tmp"), "half a record");
    expect((await store.listRequests()).requests).toHaveLength(1);
    await writeFile(join(dir, "requests", "notes.txt"), "hello");
    await mkdir(join(dir, "requests", "r-x"));
    const { requests, damaged } = await store.listRequests();
    expect(requests).toHaveLength(1);
    expect(damaged.map((d) => [d.id, d.where])).toEqual([
      [null, join(dir, "requests", "notes.txt")],
      [null, join(dir, "requests", "r-x")],
    ]);
    expect(damaged[0]!.problem).toContain("unexpected file");
  });
});

describe("S2: damaged records are integrity errors, never 'not found'", () => {
  const damage: Array<[string, (good: string) => string]> = [
    ["empty", () => ""],
    ["truncated", (good) => good.slice(0, Math.floor(good.length / 2))],
    ["not JSON", () => "this is not json"],
    ["invalid UTF-8", () => "\u00ff"],
    ["JSON of the wrong shape", () => JSON.stringify({ hello: "world" })],
    ["JSON null", () => "null"],
  ];

  for (const [what, mutate] of damage) {
    it(`S2: a request record that is ${what} → 65 naming the file`, async () => {
      const r = makeRequest();
      await store.putRequest(r);
      const file = join(dir, "requests", `${r.request.id}.json`);
      const bytes = what === "invalid UTF-8" ? Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) : mutate(await readFile(file, "utf8"));
      await writeFile(file, bytes);
      expect((await expectGuardError(store.getRequest(r.request.id), 65)).message).toContain(file);
      expect((await store.listRequests()).damaged.map((d) => d.where)).toEqual([file]);
    });

    it(`S2: a consumption record that is ${what} → 65, and the request is still consumed`, async () => {
      const id = newId();
      await store.consume(makeConsumption(id));
      const file = join(dir, "consumed", `${id}.json`);
      const bytes = what === "invalid UTF-8" ? Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) : mutate(await readFile(file, "utf8"));
      await writeFile(file, bytes);
      expect((await expectGuardError(store.getConsumption(id), 65)).message).toContain(file);
      expect(await store.consume(makeConsumption(id))).toBe(false);
    });

    it(`S2: an approval record that is ${what} → 65`, async () => {
      const id = newId();
      await store.putApproval(id, makeApproval(id));
      const [name] = await readdir(join(dir, "approvals", id));
      const file = join(dir, "approvals", id, name!);
      const bytes = what === "invalid UTF-8" ? Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) : mutate(await readFile(file, "utf8"));
      await writeFile(file, bytes);
      expect((await expectGuardError(store.listApprovals(id), 65)).message).toContain(file);
    });
  }

  it("S2: a request record filed under another id → 65", async () => {
    const r = makeRequest();
    await store.putRequest(r);
    const other = newId();
    await writeFile(join(dir, "requests", `${other}.json`), JSON.stringify(r));
    expect((await expectGuardError(store.getRequest(other), 65)).message).toContain("does not match");
  });

  it("an edited approval no longer matches its content-addressed name → 65", async () => {
    const id = newId();
    const a = makeApproval(id);
    await store.putApproval(id, a);
    const name = sha256Hex(canonicalJson(a));
    const file = join(dir, "approvals", id, `${name}.json`);
    await writeFile(file, JSON.stringify({ ...a, statement: { ...a.statement, principal: "mallory" } }));
    expect((await expectGuardError(store.listApprovals(id), 65)).message).toContain("edited");
    // Re-submitting the genuine approval does not paper over the edit.
    await expectGuardError(store.putApproval(id, a), 65);
  });

  it("a malformed record handed to the store is refused as a bug (70), and nothing is written", async () => {
    const r = makeRequest();
    (r.request as unknown as Record<string, unknown>).argv = "rm -rf /";
    await expectGuardError(store.putRequest(r), 70);
    const id = newId();
    await expectGuardError(store.putApproval(id, makeApproval(newId())), 70);
    expect(await store.listApprovals(id)).toEqual([]);
  });
});

describe("S5: bad ids never reach the file system", () => {
  it("S5: ../../policy, / and NUL are usage errors (64) and nothing is touched", async () => {
    const r = makeRequest();
    await store.putRequest(r);
    await store.appendAudit(makeDraft(1));
    await writeFile(join(parent, "policy"), "precious");
    const before = await tree(parent);
    for (const id of ["../../policy", "../policy", "/", "/etc/passwd", "r-aaaaaaaaaaaaaaaaaaaa\0", "\0", ".", "..", `${r.request.id}/../../policy`]) {
      await expectGuardError(store.getRequest(id), 64);
      await expectGuardError(store.putRequest(makeRequest(id)), 64);
      await expectGuardError(store.putApproval(id, makeApproval(id)), 64);
      await expectGuardError(store.listApprovals(id), 64);
      await expectGuardError(store.consume(makeConsumption(id)), 64);
      await expectGuardError(store.getConsumption(id), 64);
      await expectGuardError(store.waitForChange(id, 10), 64);
    }
    expect(await tree(parent)).toEqual(before);
    expect(await readFile(join(parent, "policy"), "utf8")).toBe("precious");
  });
});

describe("audit log on disk", () => {
  it("one canonical JSON event per line", async () => {
    const es = await appendN(3);
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe("");
    lines.slice(0, 3).forEach((l, i) => expect(l).toBe(canonicalJson(es[i])));
  });

  it("the audit time comes from the store clock", async () => {
    const fixed = await openFileStore(dir, { now: () => Date.parse("2030-01-01T00:00:00Z") });
    expect((await fixed.appendAudit(makeDraft(1))).time).toBe("2030-01-01T00:00:00.000Z");
    expect(await fixed.now()).toBe(Date.parse("2030-01-01T00:00:00Z"));
  });

  it("S6: an event edited mid-chain on disk is reported at its seq", async () => {
    await appendN(10);
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    lines[5] = lines[5]!.replace("event number 5", "event number 555");
    await writeFile(logPath(), lines.join("\n"));
    const r = await verifyLog(store);
    expect(r.ok).toBe(false);
    expect(r.firstBad).toEqual({ seq: 6, problem: expect.stringMatching(/^event 6 was altered/) as unknown as string });
  });

  it("S7: a truncated tail passes the chain alone but is 'behind anchor' against the anchored head", async () => {
    const es = await appendN(10);
    const anchor = { seq: 10, hash: es[9]!.hash };
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    await writeFile(logPath(), `${lines.slice(0, 8).join("\n")}\n`);
    expect((await verifyLog(store)).ok).toBe(true);
    const r = await verifyLog(store, anchor);
    expect(r.ok).toBe(false);
    expect(r.behindAnchor).toEqual({ anchorSeq: 10, headSeq: 8 });
  });

  it("S7: a deleted log reads as empty, which is behind the anchor", async () => {
    const es = await appendN(3);
    await rm(logPath());
    expect(await collect(store.readAudit())).toEqual([]);
    expect((await verifyLog(store, { seq: 3, hash: es[2]!.hash })).behindAnchor).toEqual({ anchorSeq: 3, headSeq: 0 });
  });

  it("S7: two reordered lines are reported out of order", async () => {
    await appendN(10);
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    [lines[3], lines[4]] = [lines[4]!, lines[3]!];
    await writeFile(logPath(), lines.join("\n"));
    const r = await verifyLog(store);
    expect(r.ok).toBe(false);
    expect(r.firstBad?.seq).toBe(4);
    expect(r.firstBad?.problem).toMatch(/out of order/);
  });

  it("a torn last line (crash mid-append) is an integrity error on read and on the next append", async () => {
    await appendN(3);
    await appendFile(logPath(), '{"actor":{"fingerprint":"SHA');
    expect((await expectGuardError(collect(store.readAudit()), 65)).message).toMatch(/line 4 \(a torn write\)/);
    expect((await expectGuardError(store.appendAudit(makeDraft(4)), 65)).message).toMatch(/torn write/);
  });

  it("a line that is not JSON is an integrity error naming its line", async () => {
    await appendN(5);
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    lines[2] = "garbage";
    await writeFile(logPath(), lines.join("\n"));
    expect((await expectGuardError(collect(store.readAudit()), 65)).message).toContain("line 3 is not valid JSON");
  });

  it("an altered head is not extended", async () => {
    await appendN(3);
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    lines[2] = lines[2]!.replace("event number 2", "event number 7");
    await writeFile(logPath(), lines.join("\n"));
    expect((await expectGuardError(store.appendAudit(makeDraft(4)), 65)).message).toContain("seq 3");
  });

  it("the head is found from the end of a log with long lines", async () => {
    const big = { ...makeDraft(0), data: { blob: "x".repeat(20_000) } };
    await store.appendAudit(big);
    await store.appendAudit(big);
    const e = await store.appendAudit(makeDraft(3));
    expect(e.seq).toBe(3);
    expect((await verifyLog(store)).ok).toBe(true);
  });

  it("feedAudit fails as readAudit does: a line that is not JSON, a torn tail, a planted symlink (65)", async () => {
    const feed = () => store.feedAudit!(new AuditVerifier());
    await appendN(5);
    const good = await readFile(logPath(), "utf8");
    const lines = good.split("\n");
    lines[2] = "garbage";
    await writeFile(logPath(), lines.join("\n"));
    expect((await expectGuardError(feed(), 65)).message).toContain("line 3 is not valid JSON");
    lines[2] = '{"seq":3}';
    await writeFile(logPath(), lines.join("\n"));
    expect((await expectGuardError(feed(), 65)).message).toMatch(/line 3 is not an audit event/);
    await writeFile(logPath(), `${good}{"actor":{"finger`);
    expect((await expectGuardError(feed(), 65)).message).toMatch(/line 6 \(a torn write\)/);
    await rm(logPath());
    await symlink(join(parent, "elsewhere"), logPath());
    await expectGuardError(feed(), 65);
  });

  it("lines across read boundaries, and one longer than a read, verify the same both ways", async () => {
    // Lines of odd lengths so that some straddle each 1 MiB read; one of 3 MiB spans several.
    for (let i = 0; i < 300; i++) await store.appendAudit({ ...makeDraft(i), data: { blob: "y".repeat((i * 7919) % 20_011), n: i } });
    await store.appendAudit({ ...makeDraft(300), data: { blob: "z".repeat(3 << 20) } });
    await store.appendAudit(makeDraft(301));
    const r = await verifyLog(store);
    expect(r).toMatchObject({ ok: true, events: 302 });
    const lines = (await readFile(logPath(), "utf8")).split("\n");
    lines[150] = lines[150]!.replace('"n":150', '"n":151');
    await writeFile(logPath(), lines.join("\n"));
    expect((await verifyLog(store)).firstBad?.seq).toBe(151);
  });

  it("an audit log that is a directory is refused (65)", async () => {
    await mkdir(logPath(), { recursive: true });
    await expectGuardError(store.appendAudit(makeDraft(1)), 65);
  });
});

describe("the audit lock", () => {
  const lockPath = () => join(dir, "audit", "lock");
  const holder = (pid: number, host = hostname(), token = "t") => JSON.stringify({ pid, host, token, since: "2026-01-01T00:00:00Z" });

  async function deadPid(): Promise<number> {
    const out = execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    return Number(out.toString());
  }

  it("a stale lock left by a dead process on this host is broken", async () => {
    await appendN(1);
    await writeFile(lockPath(), holder(await deadPid()));
    expect((await store.appendAudit(makeDraft(2))).seq).toBe(2);
    await expect(lstat(lockPath())).rejects.toThrow();
  });

  it("a lock with this process's pid but a token it does not hold (pid reuse) is stale", async () => {
    await appendN(1);
    await writeFile(lockPath(), holder(process.pid, hostname(), "not-ours"));
    expect((await store.appendAudit(makeDraft(2))).seq).toBe(2);
  });

  it("a lock held by a live process is waited for, then a clear 74 naming the holder", async () => {
    const s = await openFileStore(dir, { lockTimeoutMs: 300 });
    await appendN(1);
    await writeFile(lockPath(), holder(1));
    const e = await expectGuardError(s.appendAudit(makeDraft(2)), 74);
    expect(e.message).toContain("pid 1");
    expect(e.message).toContain(lockPath());
  });

  it("H5: a lock held on another host is never broken: 74 naming host, pid and age, and the command that clears it", async () => {
    const s = await openFileStore(dir, { lockTimeoutMs: 300 });
    await appendN(1);
    await writeFile(lockPath(), holder(999_999, "some-other-host"));
    const e = await expectGuardError(s.appendAudit(makeDraft(2)), 74);
    expect(e.message).toMatch(/locked by pid 999999 on host some-other-host \(held for \d+s, since 2026-01-01T00:00:00Z\), another host/);
    expect(e.hint).toContain("guard store unlock --host some-other-host");
    expect(await readFile(lockPath(), "utf8")).toBe(holder(999_999, "some-other-host"));
  });

  describe.runIf(existsSync("/proc/self/stat"))("H5: Linux: the holder's process start time and boot id", () => {
    /** Field 22 of /proc/PID/stat: the process start time in clock ticks since boot. */
    const startOf = (pid: number): string => {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
    };
    const bootId = (): string => readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
    const full = (pid: number, start: string, boot = bootId()) => JSON.stringify({ pid, host: hostname(), token: "t", since: "2026-01-01T00:00:00Z", start, boot });
    // The test runner's parent: alive for the whole test, and not the holder of any lock.
    const live = process.ppid;

    it("H5: the lock this process takes records its host, pid, start time and the boot id", async () => {
      await mkdir(join(dir, "audit"), { recursive: true });
      const content = await withFileLock(lockPath(), () => readFile(lockPath(), "utf8"));
      expect(JSON.parse(content)).toMatchObject({ pid: process.pid, host: hostname(), start: startOf(process.pid), boot: bootId() });
    });

    it("H5: a planted lock naming a live but unrelated pid (another start time) is stale and taken over", async () => {
      await appendN(1);
      const other = String(Number(startOf(live)) + 1);
      await writeFile(lockPath(), full(live, other));
      expect((await store.appendAudit(makeDraft(2))).seq).toBe(2);
      await expect(lstat(lockPath())).rejects.toThrow();
    });

    it("H5: a lock taken before this host last booted (another boot id) is stale", async () => {
      await appendN(1);
      await writeFile(lockPath(), full(live, startOf(live), "00000000-0000-0000-0000-000000000000"));
      expect((await store.appendAudit(makeDraft(2))).seq).toBe(2);
    });

    it("H5: a lock naming a live pid with no start time is stale once older than any append", async () => {
      const s = await openFileStore(dir, { lockTimeoutMs: 300 });
      await appendN(1);
      await writeFile(lockPath(), holder(live));
      await expectGuardError(s.appendAudit(makeDraft(2)), 74); // fresh: perhaps a writer mid-way
      const old = new Date(Date.now() - 60_000);
      await utimes(lockPath(), old, old);
      expect((await store.appendAudit(makeDraft(2))).seq).toBe(2);
    });

    it("H5: a lock held by a live process with its own start time is waited for, then 74", async () => {
      const s = await openFileStore(dir, { lockTimeoutMs: 300 });
      await appendN(1);
      await writeFile(lockPath(), full(live, startOf(live)));
      const old = new Date(Date.now() - 60_000);
      await utimes(lockPath(), old, old);
      const e = await expectGuardError(s.appendAudit(makeDraft(2)), 74);
      expect(e.message).toMatch(new RegExp(`locked by pid ${live} on host .* \\(held for 1m\\d*s?.*\\), which is still running on this host`));
    });
  });

  it("a lock file that is a symlink is refused (65)", async () => {
    await appendN(1);
    await symlink("/nonexistent", lockPath());
    await expectGuardError(store.appendAudit(makeDraft(2)), 65);
  });

  it("a lock file that is a FIFO (planted by a store writer) is refused (65) at once, never waited on", async () => {
    await appendN(1);
    execFileSync("mkfifo", [lockPath()]);
    const e = await expectGuardError(store.appendAudit(makeDraft(2)), 65);
    expect(e.message).toMatch(/the lock file .* is not a regular file/);
  });
});

describe("waitForChange", () => {
  it("wakes when the request is consumed by another instance", async () => {
    const id = newId();
    const other = await openFileStore(dir);
    const t0 = Date.now();
    const waiting = store.waitForChange(id, 20_000);
    setTimeout(() => void other.consume(makeConsumption(id)), 100);
    await waiting;
    expect(Date.now() - t0).toBeLessThan(5_000);
    await other.close();
  });

  it("close() releases a pending wait", async () => {
    const s = await openFileStore(dir);
    const t0 = Date.now();
    const waiting = s.waitForChange(newId(), 20_000);
    setTimeout(() => void s.close(), 50);
    await waiting;
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

describe("truncate helper sanity", () => {
  it("truncate is available for crash simulations", async () => {
    await appendN(1);
    await truncate(logPath(), 10);
    await expectGuardError(collect(store.readAudit()), 65);
  });
});

describe("indexes (issue 18)", () => {
  it("a store from before the indexes is indexed once, on first use: its open, matching and break-glass requests are found", async () => {
    const r = makeRequest();
    const gone = makeRequest();
    const glass = breakGlass();
    glass.request.argv = ["./scripts/other.sh"];
    await store.putRequest(r);
    await store.putRequest(gone);
    await store.putRequest(glass);
    expect(await store.consume(makeConsumption(gone.request.id))).toBe(true);
    await store.appendAudit({ type: "request.consumed", actor: makeDraft(0).actor, data: { requestId: gone.request.id, runId: "run-1" } });
    await rm(join(dir, "index"), { recursive: true }); // as an older guard left it
    const s = await openFileStore(dir);
    expect((await s.listOpenRequests(Date.now())).requests.map((x) => x.request.id).sort()).toEqual([r.request.id, glass.request.id].sort());
    expect((await s.findRequestsByBinding(requestBindingKey(r.request), Date.now())).requests).toHaveLength(2);
    expect((await collect(s.consumedEvents!(gone.request.id))).some((e) => e.data.requestId === gone.request.id)).toBe(true);
    expect((await s.listBreakGlassRequests()).requests).toEqual([glass]);
    expect(existsSync(join(dir, "index", "v1"))).toBe(true);
    expect(existsSync(join(dir, "index", "v2"))).toBe(true);
    await s.close();
  });

  it("a store from before index/break-glass (index/v1 only) gets it once, on first use: its break-glass requests, and a record that cannot be read, are listed; after that only the index is read", async () => {
    const glass = breakGlass();
    const normal = makeRequest();
    await store.putRequest(glass);
    await store.putRequest(normal);
    const junk = newId();
    await writeFile(join(dir, "requests", `${junk}.json`), "not JSON");
    await rm(join(dir, "index", "break-glass"), { recursive: true });
    await rm(join(dir, "index", "v2")); // as a guard from before the break-glass index left it
    expect(existsSync(join(dir, "index", "v1"))).toBe(true);
    const s = await openFileStore(dir);
    const listed = await s.listBreakGlassRequests();
    expect(listed.requests).toEqual([glass]);
    expect(listed.damaged.map((d) => d.id)).toEqual([junk]);
    expect((await readdir(join(dir, "index", "break-glass"))).sort()).toEqual([glass.request.id, junk].sort());
    expect(existsSync(join(dir, "index", "v2"))).toBe(true);
    // Indexed once: a break-glass record planted now, without an entry, is not found by this instance or
    // a new one (the listing reads the index, not every request), while a request stored by guard is.
    const planted = breakGlass();
    await writeFile(join(dir, "requests", `${planted.request.id}.json`), JSON.stringify(planted));
    const later = breakGlass(new Date(Date.now() + 1000));
    await s.putRequest(later);
    await s.close();
    const again = await openFileStore(dir);
    expect((await again.listBreakGlassRequests()).requests).toEqual([later, glass]);
    await again.close();
  });

  it.skipIf(!isRoot)("a store from before index/break-glass that cannot be written (a read-only mount): the listing reads every request instead, and writes nothing", async () => {
    const mnt = join(parent, "ro");
    await mkdir(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt]);
    try {
      const at = join(mnt, "store");
      const s = await openFileStore(at);
      const glass = breakGlass();
      await s.putRequest(glass);
      await s.putRequest(makeRequest());
      await s.close();
      await rm(join(at, "index", "break-glass"), { recursive: true });
      await rm(join(at, "index", "v2"));
      execFileSync("mount", ["-o", "remount,ro", mnt]);
      const ro = await openFileStore(at, { create: false });
      expect(await ro.listBreakGlassRequests()).toEqual({ requests: [glass], damaged: [] });
      expect(await ro.listBreakGlassRequests()).toEqual({ requests: [glass], damaged: [] });
      await ro.close();
      expect(existsSync(join(at, "index", "v2"))).toBe(false);
      expect(existsSync(join(at, "index", "break-glass"))).toBe(false);
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("prune removes a retired break-glass request's entry; a kept one stays listed", async () => {
    const actor = makeDraft(0).actor;
    const tenDaysAgo = Date.now() - 10 * 86_400_000;
    const past = await openFileStore(dir, { now: () => tenDaysAgo });
    const old = breakGlass(new Date(tenDaysAgo));
    await past.putRequest(old);
    await past.appendAudit({ type: "request.created", actor, data: { requestId: old.request.id } });
    await past.close();
    const recent = breakGlass();
    await store.putRequest(recent);
    await store.appendAudit({ type: "request.created", actor, data: { requestId: recent.request.id } });
    expect((await store.listBreakGlassRequests()).requests).toEqual([recent, old]);
    const out = await store.prune!({ cutoffMs: Date.now() - 8 * 86_400_000, olderThan: "8d", actor, archiveDir: null, dryRun: false });
    expect(out.retired).toEqual([old.request.id]);
    expect(await readdir(join(dir, "index", "break-glass"))).toEqual([recent.request.id]);
    expect((await store.listBreakGlassRequests()).requests).toEqual([recent]);
    expect(existsSync(join(dir, "index", "v2"))).toBe(true);
  });

  it("index entries are hints: a planted entry for a missing request, odd names and a planted symlink entry are passed over", async () => {
    const r = makeRequest();
    await store.putRequest(r);
    const key = requestBindingKey(r.request);
    const far = Date.now() + 86_400_000;
    await writeFile(join(dir, "index", "binding", key, `${far}-${newId()}`), "");
    await writeFile(join(dir, "index", "binding", key, "../../junk"), "").catch(() => undefined);
    await writeFile(join(dir, "index", "binding", key, "not-an-entry"), "");
    await symlink("/etc/passwd", join(dir, "index", "open", `${far}-${newId()}`));
    expect((await store.findRequestsByBinding(key, Date.now())).requests.map((x) => x.request.id)).toEqual([r.request.id]);
    expect((await store.listOpenRequests(Date.now())).requests.map((x) => x.request.id)).toEqual([r.request.id]);
    // The break-glass index: a symlink named by an id, and a directory named by a normal request's id.
    await mkdir(join(dir, "index", "break-glass"), { recursive: true });
    await symlink("/etc/passwd", join(dir, "index", "break-glass", newId()));
    await mkdir(join(dir, "index", "break-glass", r.request.id));
    expect(await store.listBreakGlassRequests()).toEqual({ requests: [], damaged: [] });
    const glass = breakGlass();
    await store.putRequest(glass);
    expect(await store.listBreakGlassRequests()).toEqual({ requests: [glass], damaged: [] });
  });

  it("the break-glass index directory replaced by a symlink or a file is tampering (65), not an empty listing", async () => {
    await store.putRequest(breakGlass());
    await rm(join(dir, "index", "break-glass"), { recursive: true });
    await symlink(parent, join(dir, "index", "break-glass"));
    await expectGuardError(store.listBreakGlassRequests(), 65);
    await rm(join(dir, "index", "break-glass"));
    await writeFile(join(dir, "index", "break-glass"), "");
    await expectGuardError(store.listBreakGlassRequests(), 65);
  });

  it("S3: consumption record AND consumed index entry deleted: the log read from the request's request.created event still holds the consumption", async () => {
    const actor = makeDraft(0).actor;
    const r = makeRequest();
    for (let i = 0; i < 5; i++) await store.appendAudit(makeDraft(i)); // history before the request
    await store.appendAudit({ type: "request.created", actor, data: { requestId: r.request.id, requestDigest: "12".repeat(32) } });
    await store.putRequest(r);
    const hintWas = await readFile(join(dir, "index", "created", r.request.id), "utf8");
    expect(Number(hintWas.trim())).toBeGreaterThan(0);
    expect(await store.consume(makeConsumption(r.request.id))).toBe(true);
    await store.appendAudit({ type: "request.consumed", actor, data: { requestId: r.request.id, runId: "run-1" } });
    await store.appendAudit(makeDraft(9));
    await rm(join(dir, "consumed", `${r.request.id}.json`));
    await rm(join(dir, "index", "consumed", r.request.id));
    const seen = async () => (await collect(store.consumedEvents!(r.request.id))).filter((e) => e.type === "request.consumed" && e.data.requestId === r.request.id).length;
    expect(await seen()).toBe(1);
    // Read from the hint, not from the start: a line of history damaged before the request (same
    // length, so offsets hold) stops no run here (the whole-log read would be 65; verify reports it).
    const text = await readFile(logPath(), "utf8");
    const lines = text.split("\n");
    lines[1] = "x".repeat(lines[1]!.length);
    await writeFile(logPath(), lines.join("\n"));
    expect(await seen()).toBe(1);
    await expectGuardError(collect(store.readAudit()), 65);
    await writeFile(logPath(), text);
    // A hint pointing elsewhere (past the consumption, or at junk) is not believed: the whole log is read.
    for (const hint of ["0\n", "999999\n", "junk", "12345678901234567890\n"]) {
      await writeFile(join(dir, "index", "created", r.request.id), hint);
      expect(await seen()).toBe(1);
    }
    const size = (await stat(logPath())).size;
    await writeFile(join(dir, "index", "created", r.request.id), `${size - 10}\n`);
    expect(await seen()).toBe(1);
    // A torn last line (a write cut short) is not passed over by the read from the hint: the whole log
    // decides, and refuses it (65).
    await writeFile(join(dir, "index", "created", r.request.id), hintWas);
    const whole = await readFile(logPath(), "utf8");
    await writeFile(logPath(), `${whole}{"seq":`);
    await expectGuardError(collect(store.consumedEvents!(r.request.id)), 65);
    await writeFile(logPath(), whole);
    expect(await seen()).toBe(1);
    // No consumption: nothing, read from the hint.
    const other = makeRequest();
    await store.appendAudit({ type: "request.created", actor, data: { requestId: other.request.id, requestDigest: "34".repeat(32) } });
    expect(await collect(store.consumedEvents!(other.request.id))).toEqual([]);
  });

  it("S3: with the consumption record deleted, the consumed index still sends the replay check to the audit log", async () => {
    const r = makeRequest();
    await store.putRequest(r);
    expect(await store.consume(makeConsumption(r.request.id))).toBe(true);
    await store.appendAudit({ type: "request.consumed", actor: makeDraft(0).actor, data: { requestId: r.request.id, runId: "run-1" } });
    await rm(join(dir, "consumed", `${r.request.id}.json`));
    const events = await collect(store.consumedEvents!(r.request.id));
    expect(events.filter((e) => e.type === "request.consumed" && e.data.requestId === r.request.id)).toHaveLength(1);
    expect(await store.getConsumption(r.request.id)).toBeNull();
  });
});
