import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditVerifier, type AuditReport } from "../../src/core/audit.js";
import { GuardError } from "../../src/core/errors.js";
import type { AuditEvent, SignedRequest } from "../../src/core/types.js";
import { requestBindingKey } from "../../src/core/request.js";
import type { DamagedRecord, Store, StoredRecord } from "../../src/adapters/store/types.js";
import { makeApproval, makeConsumption, makeDraft, makeRequest, newId } from "./fixtures.js";

/**
 * What every Store backend must do, tested through the interface only. A backend's test file calls
 * `describeStoreContract("file", make, features)`.
 *
 * `make` must return a FRESH, EMPTY store (the audit sequence starts at 1 in every test) together with
 * `reopen`, which opens a second, independent instance on the same place (a new directory handle, a new
 * connection pool) the way another process would, and `cleanup`, which closes `store` and removes the
 * place. Stores returned by `reopen` are closed by the contract itself.
 */
export interface StoreFixture {
  store: Store;
  reopen: () => Promise<Store>;
  cleanup: () => Promise<void>;
  /**
   * Plant, the way a store writer would (bypassing the Store), a request record under `id` whose body is
   * `body` (junk, or JSON nested far too deep). H4: it must affect only itself.
   */
  plantRequest: (id: string, body: string) => Promise<void>;
  /** Plant, the way a store writer would, an approval record of request `requestId` whose body is `body`. */
  plantApproval: (requestId: string, body: string) => Promise<void>;
  /** Plant, the way a store writer would, the consumption record of request `requestId` whose body is `body`. */
  plantConsumption: (requestId: string, body: string) => Promise<void>;
  /**
   * Plant an entry named `name` in the store's break-glass index, the way a store writer would; only
   * where the index has entries to plant (`features.breakGlassEntries`: not PostgreSQL, whose index the
   * database computes from each row).
   */
  plantBreakGlassEntry?: (name: string) => Promise<void>;
}

export interface StoreFeatures {
  /** The break-glass index is made of entries a store writer can plant (file and memory stores). */
  breakGlassEntries: boolean;
}

export function describeStoreContract(name: string, make: () => Promise<StoreFixture>, features: StoreFeatures): void {
  describe(`Store contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: Store;
    const extra: Store[] = [];

    async function another(): Promise<Store> {
      const s = await fx.reopen();
      extra.push(s);
      return s;
    }

    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });

    afterEach(async () => {
      for (const s of extra.splice(0)) await s.close();
      await fx.cleanup();
    });

    it("now() is a finite epoch-ms number close to the local clock", async () => {
      const t = await store.now();
      expect(Number.isFinite(t)).toBe(true);
      expect(Math.abs(t - Date.now())).toBeLessThan(30_000);
    });

    it("describes itself without secrets", () => {
      expect(typeof store.description).toBe("string");
      expect(store.description.length).toBeGreaterThan(0);
      expect(store.description).not.toMatch(/:[^:/@]+@/); // no password in a URL
    });

    describe("requests", () => {
      it("an unknown request is null", async () => {
        expect(await store.getRequest(newId())).toBeNull();
      });

      it("put then get returns the same record, also from another instance", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        expect(await store.getRequest(r.request.id)).toEqual(r);
        expect(await (await another()).getRequest(r.request.id)).toEqual(r);
      });

      it("list returns every request, newest first", async () => {
        const base = Date.now() - 60_000;
        const rs = [0, 2, 1, 3].map((k) => makeRequest(newId(), new Date(base + k * 1000)));
        for (const r of rs) await store.putRequest(r);
        const { requests: listed, damaged } = await store.listRequests();
        expect(damaged).toEqual([]);
        expect(listed.map((r) => r.request.createdAt)).toEqual([3, 2, 1, 0].map((k) => new Date(base + k * 1000).toISOString()));
        expect(listed).toContainEqual(rs[0]);
      });

      it("list of an empty store is empty", async () => {
        expect(await store.listRequests()).toEqual({ requests: [], damaged: [] });
      });

      it("putRequest refuses an existing id with an integrity error (65) and keeps the original", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const forged = makeRequest(r.request.id);
        forged.request.argv = ["rm", "-rf", "/"];
        await expectGuardError(store.putRequest(forged), 65);
        expect(await store.getRequest(r.request.id)).toEqual(r);
      });

      it("two instances racing to create one id: exactly one wins", async () => {
        const id = newId();
        const others = await Promise.all([another(), another(), another()]);
        const results = await Promise.allSettled([store, ...others].map((s) => s.putRequest(makeRequest(id))));
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        for (const r of results) if (r.status === "rejected") expect((r.reason as GuardError).exitCode).toBe(65);
      });
    });

    describe("H4: one damaged request record affects only itself", () => {
      const deep = (n: number): string => `{"request":${"[".repeat(n)}${"]".repeat(n)}}`;
      it.each([
        ["junk", "this is not JSON"],
        ["JSON nested 200,000 deep", deep(200_000)],
        ["a JSON object that is not a request", '{"request":{"v":1}}'],
      ])("H4: %s: listed as damaged (with its id and where), the others still listed, getRequest of it is 65", async (_name, body) => {
        const good = makeRequest();
        await store.putRequest(good);
        const bad = newId();
        await fx.plantRequest(bad, body);
        const { requests, damaged } = await store.listRequests();
        expect(requests).toEqual([good]);
        expect(damaged).toHaveLength(1);
        expect(damaged[0]!.id).toBe(bad);
        expect(damaged[0]!.where).toContain(bad);
        expect(damaged[0]!.problem.length).toBeGreaterThan(0);
        await expectGuardError(store.getRequest(bad), 65);
        // New requests, approvals and consumptions of the others keep working.
        const next = makeRequest();
        await store.putRequest(next);
        await store.putApproval(next.request.id, makeApproval(next.request.id));
        expect(await store.listApprovals(next.request.id)).toHaveLength(1);
        expect(await store.consume(makeConsumption(next.request.id))).toBe(true);
        expect((await store.listRequests()).requests.map((r) => r.request.id).sort()).toEqual([good.request.id, next.request.id].sort());
      });
    });

    describe("readRecords: every request with its approvals, in batches (audit verify)", () => {
      async function readAll(s: Store): Promise<{ records: StoredRecord[]; damaged: DamagedRecord[]; batches: number }> {
        const out = { records: [] as StoredRecord[], damaged: [] as DamagedRecord[], batches: 0 };
        for await (const b of s.readRecords()) {
          out.batches++;
          out.records.push(...b.records);
          out.damaged.push(...b.damaged);
        }
        return out;
      }

      it("an empty store has no records", async () => {
        const all = await readAll(store);
        expect(all.records).toEqual([]);
        expect(all.damaged).toEqual([]);
      });

      it("every request once, each with exactly what listApprovals gives, over several batches, also from another instance", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 300; i++) {
          const r = makeRequest(newId(), new Date(Date.now() - i * 1000));
          await store.putRequest(r);
          ids.push(r.request.id);
        }
        await store.putApproval(ids[0]!, makeApproval(ids[0]!, "bob"));
        await store.putApproval(ids[0]!, makeApproval(ids[0]!, "carol", "deny"));
        await store.putApproval(ids[299]!, makeApproval(ids[299]!, "dave"));
        const all = await readAll(await another());
        expect(all.batches).toBeGreaterThan(1);
        expect(all.damaged).toEqual([]);
        expect(all.records.map((r) => r.request.request.id).sort()).toEqual([...ids].sort());
        for (const r of all.records) {
          expect(r.request).toEqual(await store.getRequest(r.request.request.id));
          expect(r.approvals).toEqual(await store.listApprovals(r.request.request.id));
        }
        expect(all.records.find((r) => r.request.request.id === ids[0])!.approvals).toHaveLength(2);
      });

      it("H4: a damaged request record is listed apart (its id and where), a damaged approval is reported with its request; the others are still read", async () => {
        const good = makeRequest();
        const other = makeRequest();
        await store.putRequest(good);
        await store.putRequest(other);
        const kept = makeApproval(good.request.id);
        await store.putApproval(good.request.id, kept);
        await store.putApproval(other.request.id, makeApproval(other.request.id));
        const bad = newId();
        await fx.plantRequest(bad, "this is not JSON");
        await fx.plantApproval(other.request.id, '{"statement":{"v":1}}');
        const all = await readAll(store);
        expect(all.damaged).toHaveLength(1);
        expect(all.damaged[0]!.id).toBe(bad);
        expect(all.damaged[0]!.where).toContain(bad);
        expect(all.damaged[0]!.problem.length).toBeGreaterThan(0);
        expect(all.records.map((r) => r.request.request.id).sort()).toEqual([good.request.id, other.request.id].sort());
        expect(all.records.find((r) => r.request.request.id === good.request.id)!.approvals).toEqual([kept]);
        const damagedApprovals = all.records.find((r) => r.request.request.id === other.request.id)!.approvals;
        // What listApprovals throws, as the message.
        const thrown = await expectGuardError(store.listApprovals(other.request.id), 65);
        expect(damagedApprovals).toEqual({ damaged: thrown.message });
      });
    });

    describe("S5: ids are validated before anything is touched", () => {
      const bad = ["../../policy", "/", "r-aaaaaaaaaaaaaaaaaaa\0", "", "r-AAAAAAAAAAAAAAAAAAAA", "r-aaaaaaaaaaaaaaaaaaaa/../x", "R-aaaaaaaaaaaaaaaaaaaa"];
      for (const id of bad) {
        it(`S5: ${JSON.stringify(id)} is a usage error (64) everywhere`, async () => {
          await expectGuardError(store.getRequest(id), 64);
          await expectGuardError(store.putRequest(makeRequest(id)), 64);
          await expectGuardError(store.putApproval(id, makeApproval(id)), 64);
          await expectGuardError(store.listApprovals(id), 64);
          await expectGuardError(store.consume(makeConsumption(id)), 64);
          await expectGuardError(store.getConsumption(id), 64);
          await expectGuardError(store.waitForChange(id, 10), 64);
        });
      }
    });

    describe("approvals", () => {
      it("none for a new request", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        expect(await store.listApprovals(r.request.id)).toEqual([]);
      });

      it("add, list, and an identical re-add is idempotent", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const a = makeApproval(r.request.id, "bob");
        const b = makeApproval(r.request.id, "carol", "deny");
        await store.putApproval(r.request.id, a);
        await store.putApproval(r.request.id, b);
        await store.putApproval(r.request.id, structuredClone(a));
        await (await another()).putApproval(r.request.id, structuredClone(a));
        const listed = await store.listApprovals(r.request.id);
        expect(listed).toHaveLength(2);
        expect(listed).toContainEqual(a);
        expect(listed).toContainEqual(b);
      });

      it("approvals of one request do not leak into another", async () => {
        const r1 = makeRequest();
        const r2 = makeRequest();
        await store.putRequest(r1);
        await store.putRequest(r2);
        await store.putApproval(r1.request.id, makeApproval(r1.request.id));
        expect(await store.listApprovals(r2.request.id)).toEqual([]);
      });
    });

    describe("consumption", () => {
      it("A12: exactly one of 50 concurrent consume() calls wins, and later calls lose", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const id = r.request.id;
        expect(await store.getConsumption(id)).toBeNull();
        const others = await Promise.all([another(), another()]);
        const stores = [store, ...others];
        const records = Array.from({ length: 50 }, (_, i) => makeConsumption(id, 1000 + i));
        const results = await Promise.all(records.map((rec, i) => stores[i % stores.length]!.consume(rec)));
        expect(results.filter((x) => x === true)).toHaveLength(1);
        const winner = records[results.indexOf(true)]!;
        expect(await store.getConsumption(id)).toEqual(winner);
        expect(await store.consume(makeConsumption(id, 9999))).toBe(false);
        expect(await (await another()).consume(makeConsumption(id, 9998))).toBe(false);
        expect(await store.getConsumption(id)).toEqual(winner);
      });

      it("consuming one request leaves others unconsumed", async () => {
        const a = newId();
        const b = newId();
        await store.putRequest(makeRequest(a));
        await store.putRequest(makeRequest(b));
        expect(await store.consume(makeConsumption(a))).toBe(true);
        expect(await store.getConsumption(b)).toBeNull();
        expect(await store.consume(makeConsumption(b))).toBe(true);
      });

      it("listConsumptions lists every consumption record, including one whose request the store does not hold", async () => {
        const held = newId();
        const orphan = newId();
        await store.putRequest(makeRequest(held));
        expect(await store.consume(makeConsumption(held))).toBe(true);
        expect(await store.consume(makeConsumption(orphan))).toBe(true);
        const { consumptions, damaged } = await (await another()).listConsumptions();
        expect(damaged).toEqual([]);
        const listed = consumptions.map((c) => c.requestId);
        expect(listed).toEqual(expect.arrayContaining([held, orphan]));
        expect(new Set(listed).size).toBe(listed.length);
        for (const c of (await store.listConsumptions()).consumptions) expect(await store.getConsumption(c.requestId)).toEqual(c);
      });

      it.each([
        ["junk", "this is not JSON"],
        ["JSON nested 200,000 deep", `{"requestId":${"[".repeat(200_000)}${"]".repeat(200_000)}}`],
        ["a JSON object that is not a consumption", '{"requestId":"x"}'],
      ])("H4: a consumption record that is %s is listed as damaged (with its id and where); the others are still listed", async (_name, body) => {
        const good = newId();
        expect(await store.consume(makeConsumption(good))).toBe(true);
        const bad = newId();
        await fx.plantConsumption(bad, body);
        const { consumptions, damaged } = await store.listConsumptions();
        expect(consumptions.map((c) => c.requestId)).toEqual([good]);
        expect(damaged).toHaveLength(1);
        expect(damaged[0]!.id).toBe(bad);
        expect(damaged[0]!.where).toContain(bad);
        expect(damaged[0]!.problem.length).toBeGreaterThan(0);
        await expectGuardError(store.getConsumption(bad), 65);
      });
    });

    describe("waitForChange", () => {
      it("resolves soon after another instance stores an approval", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const other = await another();
        const t0 = Date.now();
        const waiting = store.waitForChange(r.request.id, 20_000);
        await sleep(150);
        await other.putApproval(r.request.id, makeApproval(r.request.id));
        await waiting;
        expect(Date.now() - t0).toBeLessThan(5_000);
      });

      it("resolves on timeout when nothing happens", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const t0 = Date.now();
        await store.waitForChange(r.request.id, 300);
        const elapsed = Date.now() - t0;
        expect(elapsed).toBeGreaterThanOrEqual(250);
        expect(elapsed).toBeLessThan(5_000);
      });

      it("resolves when the signal aborts, and at once when already aborted", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const ac = new AbortController();
        const t0 = Date.now();
        setTimeout(() => ac.abort(), 100);
        await store.waitForChange(r.request.id, 20_000, ac.signal);
        expect(Date.now() - t0).toBeLessThan(5_000);
        const t1 = Date.now();
        await store.waitForChange(r.request.id, 20_000, ac.signal);
        expect(Date.now() - t1).toBeLessThan(1_000);
      });
    });

    describe("indexes: a run's cost independent of history", () => {
      const withArgv = (argv: string[], createdAt = new Date()): SignedRequest => {
        const r = makeRequest(newId(), createdAt);
        r.request.argv = argv;
        return r;
      };

      it("findRequestsByBinding: the unexpired requests with exactly this key, newest first, also from another instance", async () => {
        const now = Date.now();
        const mine = [withArgv(["./a.sh", "1"], new Date(now - 2000)), withArgv(["./a.sh", "1"], new Date(now - 1000))];
        const other = withArgv(["./a.sh", "2"]);
        const expired = withArgv(["./a.sh", "1"], new Date(now - 3_600_000)); // expired 30 minutes ago
        for (const r of [...mine, other, expired]) await store.putRequest(r);
        const key = requestBindingKey(mine[0]!.request);
        const found = await (await another()).findRequestsByBinding(key, await store.now());
        expect(found.damaged).toEqual([]);
        expect(found.requests.map((r) => r.request.id)).toEqual([mine[1]!.request.id, mine[0]!.request.id]);
        expect((await store.findRequestsByBinding(requestBindingKey(other.request), now)).requests.map((r) => r.request.id)).toEqual([other.request.id]);
        expect((await store.findRequestsByBinding("0".repeat(64), now)).requests).toEqual([]);
        await expectGuardError(store.findRequestsByBinding("../x", now), 64);
      });

      it("listOpenRequests: neither expired nor consumed, newest first; history is left out", async () => {
        const now = Date.now();
        const open = [makeRequest(newId(), new Date(now - 2000)), makeRequest(newId(), new Date(now - 1000))];
        const consumed = makeRequest();
        const expired = makeRequest(newId(), new Date(now - 3_600_000));
        for (const r of [...open, consumed, expired]) await store.putRequest(r);
        expect(await store.consume(makeConsumption(consumed.request.id))).toBe(true);
        const listed = await (await another()).listOpenRequests(await store.now());
        expect(listed.damaged).toEqual([]);
        expect(listed.requests.map((r) => r.request.id)).toEqual([open[1]!.request.id, open[0]!.request.id]);
        // Later, when they have expired, nothing is open.
        expect((await store.listOpenRequests(now + 3_600_000)).requests).toEqual([]);
        expect((await store.listRequests()).requests).toHaveLength(4);
      });

      it("listRequestIds: the ids that start with a prefix, sorted, without reading records (a damaged one included)", async () => {
        const rs = [makeRequest(), makeRequest(), makeRequest()];
        for (const r of rs) await store.putRequest(r);
        const junk = newId();
        await fx.plantRequest(junk, "not json at all");
        const all = [...rs.map((r) => r.request.id), junk].sort();
        expect(await (await another()).listRequestIds("r-")).toEqual(all);
        const one = rs[0]!.request.id;
        expect(await store.listRequestIds(one.slice(0, 12))).toEqual(all.filter((id) => id.startsWith(one.slice(0, 12))));
        expect(await store.listRequestIds(one)).toEqual([one]);
        await expectGuardError(store.listRequestIds("../"), 64);
      });

      const breakGlass = (createdAt = new Date()): SignedRequest => {
        const r = makeRequest(newId(), createdAt);
        r.request.breakGlass = true;
        r.request.requirements = [];
        return r;
      };

      it("listBreakGlassRequests: every break-glass request (expired, consumed or not), newest first, also from another instance; no other request", async () => {
        const now = Date.now();
        const old = breakGlass(new Date(now - 86_400_000)); // expired a day ago
        const ran = breakGlass(new Date(now - 1000));
        const others = [makeRequest(), makeRequest(newId(), new Date(now - 86_400_000))];
        for (const r of [old, ...others, ran]) await store.putRequest(r);
        expect(await store.consume(makeConsumption(ran.request.id))).toBe(true);
        const listed = await (await another()).listBreakGlassRequests();
        expect(listed.damaged).toEqual([]);
        expect(listed.requests).toEqual([ran, old]);
        expect(await store.listBreakGlassRequests()).toEqual(listed);
      });

      it("listBreakGlassRequests of a store without break-glass requests is empty", async () => {
        expect(await store.listBreakGlassRequests()).toEqual({ requests: [], damaged: [] });
        await store.putRequest(makeRequest());
        expect(await store.listBreakGlassRequests()).toEqual({ requests: [], damaged: [] });
      });

      it("listBreakGlassRequests: a record that cannot be read but may be break-glass is listed apart as damaged (H4); the others are still listed", async () => {
        const bg = breakGlass();
        await store.putRequest(bg);
        const bad = newId();
        await fx.plantRequest(bad, "this is not JSON");
        await fx.plantBreakGlassEntry?.(bad); // where the index has entries, as when it was built over the damaged record
        const listed = await store.listBreakGlassRequests();
        expect(listed.requests).toEqual([bg]);
        expect(listed.damaged.map((d) => d.id)).toEqual([bad]);
        expect(listed.damaged[0]!.where).toContain(bad);
      });

      it.skipIf(!features.breakGlassEntries)("listBreakGlassRequests: planted entries naming a request that is not break-glass, a request not stored, or no request id at all are passed over", async () => {
        const bg = breakGlass();
        const normal = makeRequest();
        for (const r of [bg, normal]) await store.putRequest(r);
        for (const entry of [normal.request.id, newId(), "not-an-id", "r-AAAAAAAAAAAAAAAAAAAA", `${bg.request.id}.json`, "..", ".hidden"]) await fx.plantBreakGlassEntry!(entry);
        const listed = await (await another()).listBreakGlassRequests();
        expect(listed).toEqual({ requests: [bg], damaged: [] });
      });

      it("consumedEvents: the request.consumed events of this request (S3's witness), none for another", async () => {
        const id = newId();
        const other = newId();
        await store.appendAudit(makeDraft(1));
        await store.appendAudit({ type: "request.consumed", actor: makeDraft(0).actor, data: { requestId: id, runId: "run-1" } });
        await store.appendAudit(makeDraft(2));
        const events = await collect((await another()).consumedEvents!(id));
        expect(events.filter((e) => e.type === "request.consumed" && e.data.requestId === id).map((e) => e.seq)).toEqual([2]);
        const none = await collect(store.consumedEvents!(other));
        expect(none.filter((e) => e.type === "request.consumed" && e.data.requestId === other)).toEqual([]);
      });
    });

    describe("watchRequest (no lost wake-ups)", () => {
      it("a change stored after the watch began, before the wait, ends the wait at once", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const other = await another();
        const watch = await store.watchRequest(r.request.id);
        try {
          await store.listApprovals(r.request.id); // the caller's read: nothing yet
          await other.putApproval(r.request.id, makeApproval(r.request.id)); // lands before the wait
          const t0 = Date.now();
          await watch.wait(20_000);
          expect(Date.now() - t0).toBeLessThan(900);
        } finally {
          watch.close();
        }
      });

      it("a change between a wake-up and the next wait ends that wait at once; nothing ends it after a timeout", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const other = await another();
        const watch = await store.watchRequest(r.request.id);
        try {
          setTimeout(() => void other.putApproval(r.request.id, makeApproval(r.request.id, "bob")), 100);
          let t0 = Date.now();
          await watch.wait(20_000);
          expect(Date.now() - t0).toBeLessThan(900);
          expect(await store.listApprovals(r.request.id)).toHaveLength(1); // the re-read
          await other.consume(makeConsumption(r.request.id)); // lands before the next wait
          t0 = Date.now();
          await watch.wait(20_000);
          expect(Date.now() - t0).toBeLessThan(900);
          t0 = Date.now();
          await watch.wait(300); // nothing new: waits its time out
          expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
        } finally {
          watch.close();
        }
      });

      it("close() ends a watch: its waits return at once", async () => {
        const r = makeRequest();
        await store.putRequest(r);
        const watch = await store.watchRequest(r.request.id);
        watch.close();
        const t0 = Date.now();
        await watch.wait(20_000);
        expect(Date.now() - t0).toBeLessThan(900);
      });
    });

    describe("audit", () => {
      it("an empty log reads as no events", async () => {
        expect(await collect(store.readAudit())).toEqual([]);
      });

      it("appends get contiguous seq from 1, link to the previous hash, and read back in order", async () => {
        const appended: AuditEvent[] = [];
        for (let i = 0; i < 5; i++) appended.push(await store.appendAudit(makeDraft(i)));
        expect(appended.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
        expect(appended[0]!.prev).toBe("0".repeat(64));
        for (let i = 1; i < 5; i++) expect(appended[i]!.prev).toBe(appended[i - 1]!.hash);
        for (const e of appended) expect(Math.abs(Date.parse(e.time) - Date.now())).toBeLessThan(30_000);
        expect(appended[2]!.data).toEqual(makeDraft(2).data);

        const read = await collect(store.readAudit());
        expect(read).toEqual(appended);
        const report = verify(read);
        expect(report.ok).toBe(true);
        expect(report.head).toEqual({ seq: 5, hash: appended[4]!.hash });
      });

      it("feedAudit gives the verifier the log as stored, and it verifies as readAudit's events do", async () => {
        expect(await verifyBothWays(store)).toMatchObject({ ok: true, events: 0, head: null });
        const drafts = [
          makeDraft(0),
          { type: "run.started", actor: { principal: null, fingerprint: null, user: "dave" }, data: { runId: "run-1", argv: ["./purge.sh", "--all", 'a "quoted" é 😀\n'], requestId: null } },
          { type: "request.consumed", actor: { principal: "alice", fingerprint: null }, data: { requestId: "r-aaaaaaaaaaaaaaaaaaaa", runId: "run-2" } },
          { type: "run.intent", actor: { principal: "alice", fingerprint: null }, data: { requestId: "r-aaaaaaaaaaaaaaaaaaaa", runId: "run-2", argv: [] } },
          { type: "run.started", actor: { principal: "alice", fingerprint: null }, data: { runId: "run-2", argv: ["x"], ratio: 0.5 } },
          { type: "run.finished", actor: { principal: "alice", fingerprint: null }, data: { runId: "run-2", exitCode: 0, signal: null, durationMs: 12 } },
        ];
        const appended: AuditEvent[] = [];
        for (const d of drafts) appended.push(await store.appendAudit(d));
        const report = await verifyBothWays(store, { seq: 3, hash: appended[2]!.hash });
        expect(report).toMatchObject({ ok: true, events: 6, head: { seq: 6, hash: appended[5]!.hash } });
        expect(report.interrupted).toEqual([{ runId: "run-1", seq: 2, argv: ["./purge.sh", "--all", 'a "quoted" é 😀\n'] }]);
        expect([...report.consumedRequests]).toEqual(["r-aaaaaaaaaaaaaaaaaaaa"]);
        expect([...report.intendedRequests]).toEqual(["r-aaaaaaaaaaaaaaaaaaaa"]);
        expect((await verifyBothWays(store, { seq: 3, hash: "a".repeat(64) })).ok).toBe(false);
      });

      it("concurrent appends from several instances keep one valid chain", async () => {
        const stores = [store, ...(await Promise.all([another(), another(), another()]))];
        const appended = (await Promise.all(stores.map((s, k) => Promise.all(Array.from({ length: 10 }, (_, i) => s.appendAudit(makeDraft(k * 100 + i))))))).flat();
        const read = await collect((await another()).readAudit());
        expect(read.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(new Set(read.map((e) => e.hash))).toEqual(new Set(appended.map((e) => e.hash)));
        const report = verify(read);
        expect(report.problems).toEqual([]);
        expect(report.ok).toBe(true);
        expect(report.events).toBe(40);
      });
    });
  });
}

function verify(events: AuditEvent[]) {
  const v = new AuditVerifier();
  for (const e of events) v.push(e);
  return v.finish();
}

/**
 * Verify a store's log as `guard audit verify` does (feedAudit: raw lines first), and also event by event
 * through readAudit; the two must agree exactly, or fail with the same error.
 */
export async function verifyBothWays(store: Store, anchor?: { seq: number; hash: string }): Promise<AuditReport> {
  const settle = async (run: () => Promise<AuditReport>) => {
    try {
      return { report: await run() };
    } catch (e) {
      return { error: e instanceof GuardError ? `${e.exitCode} ${e.message}` : String(e) };
    }
  };
  const viaLines = await settle(async () => {
    const v = new AuditVerifier(anchor ? { anchor } : undefined);
    expect(store.feedAudit).toBeDefined();
    await store.feedAudit!(v);
    return v.finish();
  });
  const viaEvents = await settle(async () => {
    const v = new AuditVerifier(anchor ? { anchor } : undefined);
    for await (const e of store.readAudit()) v.push(e);
    return v.finish();
  });
  expect(viaLines).toEqual(viaEvents);
  if ("error" in viaLines) throw new Error(viaLines.error);
  return viaLines.report;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function expectGuardError(p: Promise<unknown>, exitCode: number): Promise<GuardError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(GuardError);
    expect((e as GuardError).exitCode).toBe(exitCode);
    return e as GuardError;
  }
  throw new Error(`expected a GuardError with exit code ${exitCode}, but the call succeeded`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
