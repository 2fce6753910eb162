import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { sign, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { verifyStore as VerifyStore } from "../../src/commands/audit.js";
import type { MemoryPlace as Place, openMemoryStore as OpenMemoryStore } from "../../src/adapters/store/memory.js";
import type { startSignaturePool as StartPool } from "../../src/adapters/signature-parallel.js";
import { approvalMessage, requestMessage } from "../../src/core/request.js";
import { encodeSshSig, signedData } from "../../src/core/sshsig.js";
import { canonicalJson } from "../../src/core/canonical.js";
import { SIG_NAMESPACE, type SignedApproval, type SignedRequest } from "../../src/core/types.js";
import { makeIdentity, type Identity } from "../helpers/keys.js";
import { bundleBesideWorker } from "../helpers/worker-bundle.js";
import { makeApproval, makeConsumption, makeRequest, newId } from "../store/fixtures.js";
import { encodeArchive, readArchive } from "../../src/adapters/store/archive.js";
import { ARCHIVE_FORMAT, partDigest, type ArchiveManifest } from "../../src/core/prune.js";
import { writeFile } from "node:fs/promises";

/**
 * `audit verify` checks the signatures of a large store's records in worker threads
 * (signature-parallel.ts); the verdict must be the one the in-thread check gives, problem for problem
 * and in the same order. Worker threads cannot load TypeScript, so verify and the memory store are
 * bundled with esbuild first, the worker's bundle beside them, as scripts/build.mjs lays out dist/.
 * The records are signed for real, with ssh-keygen's keys (in the SSHSIG layout, by node:crypto, as
 * the bench signs its history), and some are altered after signing.
 */

interface Bundle {
  verifyStore: typeof VerifyStore;
  MemoryPlace: typeof Place;
  openMemoryStore: typeof OpenMemoryStore;
  startSignaturePool: typeof StartPool;
}

let work: string;
let mod: Bundle;
let alice: Identity;
let bob: Identity;
let aliceKey: KeyObject;
let bobKey: KeyObject;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "guard-sigpar-"));
  mod = await bundleBesideWorker<Bundle>(work, "verify", {
    "commands/audit.ts": ["verifyStore"],
    "adapters/store/memory.ts": ["MemoryPlace", "openMemoryStore"],
    "adapters/signature-parallel.ts": ["startSignaturePool"],
  });
  alice = await makeIdentity(work, "alice");
  bob = await makeIdentity(work, "bob");
  // (the bench's reader of an unencrypted OpenSSH ed25519 key file)
  const bench = (await import(join(process.cwd(), "scripts", "bench", "history.mjs") as string)) as { opensshEd25519: (path: string) => KeyObject };
  aliceKey = bench.opensshEd25519(alice.privatePath);
  bobKey = bench.opensshEd25519(bob.privatePath);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function sshsig(id: Identity, key: KeyObject, namespace: string, message: string): string {
  return encodeSshSig({
    version: 1,
    publicKey: Buffer.from(id.key.blob, "base64"),
    namespace,
    reserved: Buffer.alloc(0),
    hashAlgorithm: "sha512",
    signatureType: "ssh-ed25519",
    signatureBytes: sign(null, signedData(namespace, "sha512", message), key),
  });
}

function signedRequest(i: number): SignedRequest {
  const r = makeRequest(newId(), new Date(Date.UTC(2026, 0, 1) + (i % 50) * 60_000)); // ties in createdAt on purpose
  r.request.requester = { principal: "alice", fingerprint: alice.fingerprint, key: `${alice.key.type} ${alice.key.blob}` }; // as guard writes it
  r.request.breakGlass = i % 40 === 3;
  r.signature = sshsig(alice, aliceKey, SIG_NAMESPACE.request, requestMessage(r.request));
  return r;
}

function signedApproval(requestId: string, i: number): SignedApproval {
  const a = makeApproval(requestId, "bob", i % 2 === 0 ? "approve" : "deny");
  a.statement.fingerprint = bob.fingerprint;
  a.signature = sshsig(bob, bobKey, SIG_NAMESPACE.approval, approvalMessage(a.statement));
  return a;
}

/**
 * Records no guard writes, whatever their signatures: a request re-signed with a field guard never
 * writes (whose name is hostile text), a request whose key is not text (no signature can be checked),
 * an approval re-signed with a time that is not guard's, a consumption with such a time.
 */
const extraField = (i: number): boolean => i % 31 === 5;
const keyNotText = (i: number): boolean => i % 37 === 6;
const malformedRequest = (i: number): boolean => extraField(i) || keyNotText(i);
const malformedApproval = (i: number): boolean => i % 26 === 4; // (even: it has an approval)
const malformedConsumption = (i: number): boolean => i % 43 === 9;

/** 260 requests (three batches of the memory store), half with an approval, and damage of every kind verify reports. */
async function tamperedPlace(): Promise<Place> {
  const place = new mod.MemoryPlace();
  const store = mod.openMemoryStore(place);
  for (let i = 0; i < 260; i++) {
    const r = signedRequest(i);
    if (i % 17 === 1) r.request.argv = [...r.request.argv, "--altered"]; // signature no longer verifies
    if (i % 29 === 2) r.request.requester.fingerprint = bob.fingerprint; // names another key's fingerprint
    if (extraField(i)) {
      (r.request as unknown as Record<string, unknown>)["\u001b[2Jsneaky"] = true;
      r.signature = sshsig(alice, aliceKey, SIG_NAMESPACE.request, requestMessage(r.request)); // a valid signature
    }
    if (keyNotText(i)) (r.request.requester as unknown as Record<string, unknown>).key = 5;
    await store.putRequest(r);
    if (i % 40 === 3 && i % 80 === 3) place.breakGlass.delete(r.request.id); // hidden from --review (S19)
    if (i % 2 === 0) {
      const a = signedApproval(r.request.id, i);
      if (i % 22 === 0) a.statement.comment = "altered";
      if (malformedApproval(i)) {
        a.statement.createdAt = "yesterday";
        a.signature = sshsig(bob, bobKey, SIG_NAMESPACE.approval, approvalMessage(a.statement));
      }
      await store.putApproval(r.request.id, a);
    }
    if (i % 53 === 7) {
      // An approval record that cannot be read: reported with its request (H4).
      let mine = place.approvals.get(r.request.id);
      if (!mine) place.approvals.set(r.request.id, (mine = new Map()));
      mine.set("ab".repeat(32), "not json");
    }
    if (malformedConsumption(i)) place.consumptions.set(r.request.id, canonicalJson({ ...makeConsumption(r.request.id), consumedAt: "2026-01-01" }));
  }
  place.requests.set(newId(), "this is not JSON"); // a damaged request record (H4)
  place.requests.set(newId(), canonicalJson({ request: { v: 1 } }));
  return place;
}

describe("audit verify: signatures checked in worker threads give the in-thread verdict", () => {
  it.skipIf(availableParallelism() < 2)("worker threads start beside the bundle", async () => {
    const pool = await mod.startSignaturePool();
    expect(pool).not.toBeNull();
    expect(pool!.size).toBeGreaterThanOrEqual(2);
    await pool!.close();
  });

  it("the same problems, in the same order, with and without threads, on a store with damage of every kind", async () => {
    const place = await tamperedPlace();
    const inThread = await mod.verifyStore(mod.openMemoryStore(place), { parallelSignaturesFrom: Number.POSITIVE_INFINITY });
    const threaded = await mod.verifyStore(mod.openMemoryStore(place), { parallelSignaturesFrom: 0 });
    const late = await mod.verifyStore(mod.openMemoryStore(place), { parallelSignaturesFrom: 150 }); // threads from the second batch on
    expect(threaded.problems).toEqual(inThread.problems);
    expect(late.problems).toEqual(inThread.problems);
    expect(threaded.leftovers).toEqual(inThread.leftovers);
    expect(threaded.ok).toBe(false);
    const p = inThread.problems;
    const count = (re: RegExp): number => p.filter((x) => re.test(x)).length;
    // Each kind of damage is there, as many times as it was made.
    expect(count(/^damaged record /)).toBe(2);
    const all = [...Array(260).keys()];
    // A malformed record is reported as such, not (also) as altered.
    expect(count(/its signature does not verify/)).toBe(all.filter((i) => (i % 17 === 1 || i % 29 === 2) && !malformedRequest(i)).length);
    expect(count(/approval by bob does not verify/)).toBe(all.filter((i) => i % 22 === 0 && i % 53 !== 7 && !malformedApproval(i)).length);
    expect(count(/: request record is malformed: request\.\\x1b\[2Jsneaky \(no guard writes such a record/)).toBe(all.filter(extraField).length);
    expect(count(/: request record is malformed: request\.requester\.key \(no guard writes/)).toBe(all.filter((i) => keyNotText(i) && !extraField(i)).length);
    expect(count(/: approval record is malformed: statement\.createdAt \(no guard writes/)).toBe(all.filter((i) => malformedApproval(i) && i % 53 !== 7).length);
    expect(count(/^consumption of request r-[a-z2-7]+: consumption record is malformed: consumedAt \(no guard writes/)).toBe(all.filter(malformedConsumption).length);
    for (const x of p) expect(x).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/); // hostile text escaped
    expect(count(/: damaged record: /)).toBe([...Array(260).keys()].filter((i) => i % 53 === 7).length);
    expect(count(/missing from the store's break-glass index/)).toBe([...Array(260).keys()].filter((i) => i % 80 === 3).length);
  }, 60_000);

  it("an archive's records (verify --archive): the same problems with and without threads, the threads started by the archive alone", async () => {
    // 300 archived requests, the first 260 as the tampered store's well-formed ones (signatures that
    // no longer verify, another key's fingerprint, altered approvals), 40 more intact; no events.
    const records: string[] = [];
    let approvals = 0;
    for (let i = 0; i < 300; i++) {
      const r = signedRequest(i);
      if (i < 260 && i % 17 === 1) r.request.argv = [...r.request.argv, "--altered"];
      if (i < 260 && i % 29 === 2) r.request.requester.fingerprint = bob.fingerprint;
      const as: SignedApproval[] = [];
      if (i % 2 === 0) {
        const a = signedApproval(r.request.id, i);
        if (i % 22 === 0) a.statement.comment = "altered";
        as.push(a);
        approvals++;
      }
      records.push(JSON.stringify({ request: r, approvals: as, consumption: null }));
    }
    const manifest: ArchiveManifest = {
      format: ARCHIVE_FORMAT,
      store: "memory",
      cutoff: "2026-01-01T00:00:00.000Z",
      events: { count: 0, firstSeq: 1, lastSeq: 0, firstPrev: "0".repeat(64), lastHash: "0".repeat(64), sha256: partDigest([]) },
      records: { requests: records.length, approvals, consumptions: 0, sha256: partDigest(records) },
      retired: [],
    };
    const path = join(work, "records.jsonl.gz");
    await writeFile(path, encodeArchive(manifest, [], records));
    const archive = await readArchive(path);
    const store = (): ReturnType<typeof mod.openMemoryStore> => mod.openMemoryStore(new mod.MemoryPlace()); // nothing stored: only the archive's records
    const inThread = await mod.verifyStore(store(), { archives: [archive], parallelSignaturesFrom: Number.POSITIVE_INFINITY });
    const threaded = await mod.verifyStore(store(), { archives: [archive], parallelSignaturesFrom: 0 });
    const late = await mod.verifyStore(store(), { archives: [archive], parallelSignaturesFrom: 200 }); // threads from the second job on
    expect(threaded.problems).toEqual(inThread.problems);
    expect(late.problems).toEqual(inThread.problems);
    const p = inThread.problems;
    const count = (re: RegExp): number => p.filter((x) => re.test(x)).length;
    const all = [...Array(300).keys()];
    expect(count(/^request r-[a-z2-7]+ \(archived\): its signature does not verify/)).toBe(all.filter((i) => i < 260 && (i % 17 === 1 || i % 29 === 2)).length);
    expect(count(/approval by bob does not verify/)).toBe(all.filter((i) => i % 22 === 0).length);
  }, 60_000);
});
