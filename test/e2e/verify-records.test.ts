/**
 * Issue 12 item 5, second half: `guard audit verify` cross-checks the store's records against the log.
 * Someone who can write the store plants a request, an approval or a consumption — each signed for real
 * with the planter's own key, so only the missing audit event gives it away — or removes a denial; verify
 * exits 65 naming the record. A genuine store verifies clean. Both stores: the file store and PostgreSQL.
 *
 * What runs where: the verify of each genuine store, and the text verify that catches a replaced request,
 * go through the built CLI. The genuine history and the other verifies run guard's whole command line in
 * process (test/helpers/in-process.ts guardIn), on the same store (the world's GUARD_STORE: the file store
 * or the PostgreSQL URL): it saves a Node start per call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, requestIdIn, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { sshKeygenSign } from "../helpers/keys.js";
import { createTestDatabase, sql } from "../helpers/pg.js";
import { randomBytes } from "node:crypto";
import { approvalMessage, requestDigest, requestMessage } from "../../src/core/request.js";
import { newNonce, newRequestId } from "../../src/core/ids.js";
import { parseAuthorizedKey } from "../../src/core/sshkey.js";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import { SIG_NAMESPACE, type ApprovalStatement, type Consumption, type SignedApproval, type SignedRequest } from "../../src/core/types.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const PURGE = "./maintenance/purge-lb-state.sh";

interface Verify {
  code: number;
  problems: string[];
}

/** Where the records are planted: the file store's directories, or PostgreSQL's tables. */
interface Planter {
  request(signed: SignedRequest): Promise<void>;
  approval(requestId: string, a: SignedApproval): Promise<void>;
  consumption(c: Consumption): Promise<void>;
  /** Read back what guard stored. */
  getRequest(id: string): Promise<SignedRequest>;
}

const newId = (): string => newRequestId(randomBytes(16));

function fingerprintOf(w: World, who: string): string {
  const k = parseAuthorizedKey(w.people[who]!.line);
  if (!k.ok) throw new Error(k.reason);
  return k.key.fingerprint;
}

function suite(name: string, setup: () => Promise<{ w: World; env: Record<string, string>; planter: (w: World) => Planter; cleanup(): Promise<void> }>): void {
  describe(`issue 12.5: audit verify cross-checks the ${name} against the log`, () => {
    let w: World;
    let env: Record<string, string>;
    let plant: Planter;
    let cleanup: () => Promise<void>;
    let genuine: string;

    const verify = async (opts: { spawned?: boolean } = {}): Promise<Verify> => {
      const r = await (opts.spawned ? guard : guardIn)(w, ["audit", "verify", "--json"], { env });
      return { code: r.code, problems: (JSON.parse(r.stdout) as { problems: string[] }).problems };
    };
    const sign = async (who: string, namespace: string, message: string): Promise<string> => sshKeygenSign({ privatePath: w.people[who]!.key, namespace, message });

    beforeAll(async () => {
      const s = await setup();
      w = s.w;
      env = s.env;
      plant = s.planter(w);
      cleanup = s.cleanup;
      // A genuine history: a request, an approval, a consumed run, a refusal.
      const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "genuine", "--", PURGE, "--ticket=genuine"], { as: "alice", env: { ...PROD, ...env } });
      genuine = requestIdIn(r.stderr);
      expect((await guardIn(w, ["approve", genuine, "--yes"], { as: "bob", env })).code).toBe(0);
      expect((await guardIn(w, ["run", "--request", genuine, "--confirm", "production"], { as: "alice", env: { ...PROD, ...env } })).code).toBe(0);
      expect((await guardIn(w, ["approve", genuine, "--yes"], { as: "alice", env })).code).toBe(77);
    });
    afterAll(async () => cleanup());

    it("a genuine store verifies clean", async () => {
      const v = await verify({ spawned: true });
      expect(v.problems).toEqual([]);
      expect(v.code).toBe(0);
    });

    it("a request record with no request.created event (re-signed by the requester's own key) → 65 naming it", async () => {
      const base = await plant.getRequest(genuine);
      const request = { ...base.request, id: newId(), reason: "planted", nonce: newNonce(randomBytes(16)) };
      await plant.request({ request, signature: await sign("alice", SIG_NAMESPACE.request, requestMessage(request)) });
      const v = await verify();
      expect(v.code).toBe(65);
      expect(v.problems).toContainEqual(expect.stringMatching(new RegExp(`^request ${request.id} is in the store but the audit log has no request.created event`)));
      // Its signature is genuine: only the cross-check catches it.
      expect(v.problems.filter((p) => p.includes(request.id))).toHaveLength(1);
    });

    it("a request record no guard writes, signed for real by the requester's own key (a field guard never writes; a key that is not text) → 65 naming the field, escaped", async () => {
      const base = await plant.getRequest(genuine);
      const extra = { ...base.request, id: newId(), nonce: newNonce(randomBytes(16)), "\u001b]8;;https://evil\u0007x": "planted" };
      await plant.request({ request: extra, signature: await sign("alice", SIG_NAMESPACE.request, requestMessage(extra)) });
      const keyless = { ...base.request, id: newId(), nonce: newNonce(randomBytes(16)), requester: { ...base.request.requester, key: 7 as unknown as string } };
      await plant.request({ request: keyless, signature: base.signature });
      const v = await verify();
      expect(v.code).toBe(65);
      const mine = (id: string): string[] => v.problems.filter((p) => p.startsWith(`request ${id}`));
      // Its signature is genuine: the shape gives it away (and the missing event).
      expect(mine(extra.id)).toContainEqual(`request ${extra.id}: request record is malformed: request.\\x1b]8;;https://evil\\x07x (no guard writes such a record: it was altered or planted)`);
      expect(mine(keyless.id)).toContainEqual(`request ${keyless.id}: request record is malformed: request.requester.key (no guard writes such a record: it was altered or planted)`);
      for (const p of v.problems) expect(p).not.toMatch(/[\u0000-\u001f\u007f]/);
    });

    it("an approval record with no approval.recorded event (signed by a real approver's key) → 65 naming it", async () => {
      const target = await plant.getRequest(genuine);
      const statement: ApprovalStatement = {
        v: 1,
        requestId: genuine,
        requestDigest: requestDigest(target.request),
        decision: "approve",
        principal: "carol",
        fingerprint: fingerprintOf(w, "carol"),
        comment: "planted",
        createdAt: new Date().toISOString(),
        nonce: newNonce(randomBytes(16)),
      };
      await plant.approval(genuine, { statement, signature: await sign("carol", SIG_NAMESPACE.approval, approvalMessage(statement)) });
      const v = await verify();
      expect(v.code).toBe(65);
      expect(v.problems).toContainEqual(expect.stringMatching(new RegExp(`^request ${genuine}: the store holds an approval by carol .* that the audit log never recorded`)));
    });

    it("a consumption record with no request.consumed event, even for a request the store does not hold → 65 naming it", async () => {
      const id = newId();
      await plant.consumption({ requestId: id, requestDigest: "0".repeat(64), consumedAt: new Date().toISOString(), by: { principal: "alice", fingerprint: "SHA256:x" }, host: "h", pid: 1 });
      const v = await verify();
      expect(v.code).toBe(65);
      expect(v.problems).toContainEqual(expect.stringMatching(new RegExp(`^request ${id} is consumed in the store but the audit log has no request.consumed event`)));
    });
  });
}

suite("file store", async () => {
  const w = await makeWorld();
  const planter = (world: World): Planter => {
    const dir = (sub: string): string => join(world.store, sub);
    return {
      async request(signed) {
        await writeFile(join(dir("requests"), `${signed.request.id}.json`), JSON.stringify(signed, null, 2), { mode: 0o600 });
      },
      async approval(requestId, a) {
        await mkdir(join(dir("approvals"), requestId), { recursive: true, mode: 0o700 });
        await writeFile(join(dir("approvals"), requestId, `${sha256Hex(canonicalJson(a))}.json`), JSON.stringify(a, null, 2), { mode: 0o600 });
      },
      async consumption(c) {
        await writeFile(join(dir("consumed"), `${c.requestId}.json`), JSON.stringify(c, null, 2), { mode: 0o600 });
      },
      async getRequest(id) {
        return JSON.parse(await readFile(join(dir("requests"), `${id}.json`), "utf8")) as SignedRequest;
      },
    };
  };
  return { w, env: {}, planter, cleanup: () => w.cleanup() };
});

suite("PostgreSQL store", async () => {
  const db = await createTestDatabase();
  const w = await makeWorld();
  w.env.GUARD_STORE = db.url;
  const planter = (): Planter => ({
    async request(signed) {
      await sql(db.url, "INSERT INTO guard_requests (id, body, created_at, expires_at) VALUES ($1, $2, $3, $4)", [signed.request.id, canonicalJson(signed), signed.request.createdAt, signed.request.expiresAt]);
    },
    async approval(requestId, a) {
      const body = canonicalJson(a);
      await sql(db.url, "INSERT INTO guard_approvals (request_id, digest, body) VALUES ($1, $2, $3)", [requestId, sha256Hex(body), body]);
    },
    async consumption(c) {
      await sql(db.url, "INSERT INTO guard_consumptions (request_id, body) VALUES ($1, $2)", [c.requestId, canonicalJson(c)]);
    },
    async getRequest(id) {
      const rows = await sql(db.url, "SELECT body FROM guard_requests WHERE id = $1", [id]);
      return JSON.parse(rows[0]!.body as string) as SignedRequest;
    },
  });
  return {
    w,
    env: {},
    planter,
    cleanup: async () => {
      await w.cleanup();
      await db.drop();
    },
  };
});

describe("issue 12.5: records removed or replaced in the file store", () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
  });
  afterAll(async () => w.cleanup());

  it("a removed denial (which would let a denied request run) and a replaced request → 65 naming each", async () => {
    const r = await guardIn(w, ["request", "--reason", "to deny", "--", PURGE, "--ticket=deny"], { as: "alice", env: PROD });
    const id = requestIdIn(r.stdout);
    expect((await guardIn(w, ["deny", id, "--reason", "not now"], { as: "bob" })).code).toBe(0);
    expect((await guardIn(w, ["audit", "verify"])).code).toBe(0);
    const dir = join(w.store, "approvals", id);
    for (const f of await readdir(dir)) await rm(join(dir, f));
    const v = await guardIn(w, ["audit", "verify", "--json"]);
    expect(v.code).toBe(65);
    expect(JSON.parse(v.stdout).problems).toContainEqual(expect.stringMatching(new RegExp(`^the audit log records a denial of request ${id} by bob .* but the store has no such record`)));

    // The requester re-signs a changed copy under the same id: the signature holds, the digest does not.
    const file = join(w.store, "requests", `${id}.json`);
    const signed = JSON.parse(await readFile(file, "utf8")) as SignedRequest;
    const request = { ...signed.request, reason: "a different reason" };
    const signature = await sshKeygenSign({ privatePath: w.people.alice!.key, namespace: SIG_NAMESPACE.request, message: requestMessage(request) });
    await writeFile(file, JSON.stringify({ request, signature }, null, 2));
    const v2 = await guard(w, ["audit", "verify"]);
    expect(v2.code).toBe(65);
    expect(v2.stdout).toContain(`request ${id} in the store is not the request the audit log recorded`);
  });
});
