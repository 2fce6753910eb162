// History for the bench (issue 18): a store holding N finished requests — a year of them — made fast and
// realistically. One genuine request is made by the real CLI (`guard run` as the requester, exit 75);
// each historic request is a copy of it with its own id, nonce, ticket argument and times spread over
// the past year, re-signed with the requester's real ssh-keygen key (its OpenSSH private key is read
// here and signed with node:crypto's ed25519 in the SSHSIG layout, about 50 µs a request), so every
// record verifies as guard would check it. Nine in ten were approved and consumed, as the template was:
// an approval record (a copy of the template's, for that request, re-signed with the approver's real
// key) and a consumption record, as `guard approve` and a run leave them; the rest expired unanswered.
// They go in through guard's own Store (bundled from src/), so the file store's files and indexes and
// PostgreSQL's rows are exactly what guard writes.
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const DAY = 86_400_000;

/** The ed25519 private key of an unencrypted OpenSSH key file, as a node:crypto KeyObject. */
export function opensshEd25519(path) {
  const text = readFileSync(path, "utf8");
  const b64 = text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const buf = Buffer.from(b64, "base64");
  let off = "openssh-key-v1\0".length;
  const str = () => {
    const n = buf.readUInt32BE(off);
    const out = buf.subarray(off + 4, off + 4 + n);
    off += 4 + n;
    return out;
  };
  const cipher = str().toString();
  if (cipher !== "none") throw new Error(`${path}: an encrypted key (${cipher}); the bench makes its keys without a passphrase`);
  str(); // kdf name
  str(); // kdf options
  off += 4; // number of keys
  str(); // public key
  const priv = str();
  off = 0;
  const section = priv;
  const read = () => {
    const n = section.readUInt32BE(off);
    const out = section.subarray(off + 4, off + 4 + n);
    off += 4 + n;
    return out;
  };
  off = 8; // check1, check2
  if (read().toString() !== "ssh-ed25519") throw new Error(`${path}: not an ed25519 key`);
  read(); // public
  const seed = read().subarray(0, 32);
  return createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
}

function newId() {
  let id = "r-";
  for (const b of randomBytes(20)) id += BASE32[b & 31];
  return id;
}

/** An SSHSIG over `message` in `namespace` by an ed25519 key (`key`, its public blob `publicKey`), armored as guard stores it. */
function sshsig(mod, namespace, message, key, publicKey) {
  const data = mod.signedData(namespace, "sha512", message);
  return mod.encodeSshSig({ version: 1, publicKey, namespace, reserved: Buffer.alloc(0), hashAlgorithm: "sha512", signatureType: "ssh-ed25519", signatureBytes: sign(null, data, key) });
}

/**
 * Put `count` historic copies of `template` (a SignedRequest made by the CLI) into `store`, signed with
 * `keyFile` (whose public line is `publicLine`); each one consumed also gets a copy of `approval.template`
 * (the SignedApproval `guard approve` stored for the template), signed with `approval.keyFile` (public
 * line `approval.publicLine`). `now` is the store's clock. Returns what the audit log needs of each,
 * oldest first: { id, digest, argv, createdMs, approvedMs and consumedMs (null: expired unanswered) }.
 */
export async function writeHistory({ mod, store, template, keyFile, publicLine, approval, count, now, batch = 32, samples = [], approvalSamples = [] }) {
  const key = opensshEd25519(keyFile);
  const publicKey = Buffer.from(publicLine.split(/\s+/)[1], "base64");
  const approverKey = opensshEd25519(approval.keyFile);
  const approverPublicKey = Buffer.from(approval.publicLine.split(/\s+/)[1], "base64");
  const ttl = Date.parse(template.request.expiresAt) - Date.parse(template.request.createdAt);
  const facts = new Array(count);
  const make = (i) => {
    const created = now - 2 * DAY - Math.floor((i / count) * 363 * DAY);
    const argv = [...template.request.argv];
    argv[argv.length - 1] = `history-${i}`;
    const request = {
      ...template.request,
      id: newId(),
      nonce: randomBytes(16).toString("hex"),
      argv,
      createdAt: new Date(created).toISOString(),
      expiresAt: new Date(created + ttl).toISOString(),
    };
    const signature = sshsig(mod, mod.SIG_NAMESPACE.request, mod.requestMessage(request), key, publicKey);
    const answered = i % 10 !== 9;
    facts[count - 1 - i] = { id: request.id, digest: mod.requestDigest(request), argv, createdMs: created, approvedMs: answered ? created + 30_000 : null, consumedMs: answered ? created + 60_000 : null };
    return { request, signature };
  };
  /** The approval of an answered request: the template's statement for it, with its own time and nonce. */
  const approve = (f) => {
    const statement = { ...approval.template.statement, requestId: f.id, requestDigest: f.digest, createdAt: new Date(f.approvedMs).toISOString(), nonce: randomBytes(16).toString("hex") };
    return { statement, signature: sshsig(mod, mod.SIG_NAMESPACE.approval, mod.approvalMessage(statement), approverKey, approverPublicKey) };
  };
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, k) => {
        const signed = make(i + k);
        if (i + k === 0 || i + k === count >> 1 || i + k === count - 1) samples.push(signed);
        // Consumed first: PostgreSQL refuses to consume an expired request it holds (A10), and these
        // expired long ago; a consumption of a request not yet stored is taken as it is.
        if ((i + k) % 10 !== 9) {
          await store.consume({
            requestId: signed.request.id,
            requestDigest: facts[count - 1 - (i + k)].digest,
            consumedAt: new Date(facts[count - 1 - (i + k)].consumedMs).toISOString(),
            by: { principal: template.request.requester.principal, fingerprint: template.request.requester.fingerprint },
            host: "bench",
            pid: 4242,
          });
        }
        await store.putRequest(signed);
        const f = facts[count - 1 - (i + k)];
        if (f.approvedMs !== null) {
          const a = approve(f);
          if (approvalSamples.length < samples.length) approvalSamples.push(a);
          await store.putApproval(f.id, a);
        }
      }),
    );
  }
  return facts;
}

/** The event types a request's life leaves in the audit log, in order. */
const LIFE = ["request.created", "approval.recorded", "run.intent", "request.consumed", "run.started", "run.finished"];

/**
 * The audit events of the history, as bursts for writeAuditLog: for each historic request, the events
 * the CLI wrote for the template request's life (`templateEvents`: request.created; then, for one that
 * was approved and consumed, approval.recorded, run.intent, request.consumed, run.started and
 * run.finished), with the historic request's id, digest, argv, a run id of its own and its times.
 */
export function historyBursts(facts, templateEvents, template) {
  const id = template.request.id;
  const byType = new Map();
  for (const e of templateEvents) if (e.data?.requestId === id && LIFE.includes(e.type)) byType.set(e.type, e);
  for (const t of LIFE) if (!byType.has(t)) throw new Error(`the template request's life has no ${t} event (got ${[...byType.keys()].join(", ")})`);
  const runId = byType.get("run.started").data.runId;
  const digest = byType.get("request.created").data.requestDigest;
  const texts = LIFE.map((t) => {
    const e = byType.get(t);
    return { type: t, actor: e.actor, data: JSON.stringify(e.data) };
  });
  return facts.map((f, n) => {
    const life = f.consumedMs === null ? texts.slice(0, 1) : texts;
    return {
      timeMs: f.createdMs,
      events: life.length,
      drafts: () => {
        const run = `run-${randomBytes(16).toString("hex")}`;
        return life.map(({ type, actor, data: text }, k) => {
          const data = JSON.parse(text.replaceAll(id, f.id).replaceAll(digest, f.digest).replaceAll(runId, run));
          if ("argv" in data) data.argv = f.argv;
          if (type === "run.finished") data.durationMs = 40 + (n % 997);
          // request.created when made, approval.recorded when approved; then a millisecond apart around
          // the consumption (run.intent just before it), and run.finished after the run's duration.
          const at = k === 0 ? 0 : type === "approval.recorded" ? f.approvedMs - f.createdMs : f.consumedMs - f.createdMs + (k - 3) + (type === "run.finished" ? data.durationMs : 0);
          return { type, actor, data, at };
        });
      },
    };
  });
}

/**
 * Check sample requests (and approvals) with OpenSSH itself: `ssh-keygen -Y verify` against an
 * allowed_signers file holding the signer's public key, over the exact bytes guard verifies
 * (requestMessage, approvalMessage). Throws naming the record when one does not verify.
 */
export async function verifyWithSshKeygen({ mod, samples, principal, publicLine, approvals = [], approver = null, dir }) {
  const { execFile } = await import("node:child_process");
  const { writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const allowed = join(dir, "allowed_signers");
  await writeFile(allowed, `${principal} ${publicLine}\n${approver ? `${approver.principal} ${approver.publicLine}\n` : ""}`);
  const checks = [
    ...samples.map((r) => ({ what: `request ${r.request.id}`, who: principal, namespace: mod.SIG_NAMESPACE.request, signature: r.signature, message: mod.requestMessage(r.request), name: r.request.id })),
    ...approvals.map((a) => ({ what: `approval of ${a.statement.requestId}`, who: approver.principal, namespace: mod.SIG_NAMESPACE.approval, signature: a.signature, message: mod.approvalMessage(a.statement), name: `${a.statement.requestId}.approval` })),
  ];
  for (const c of checks) {
    const sig = join(dir, `${c.name}.sig`);
    await writeFile(sig, c.signature);
    await new Promise((resolve, reject) => {
      const child = execFile("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", c.who, "-n", c.namespace, "-s", sig], (err, stdout, stderr) =>
        err ? reject(new Error(`ssh-keygen -Y verify refused the generated ${c.what}: ${stderr || stdout || err.message}`)) : resolve(),
      );
      child.stdin.end(c.message);
    });
  }
}
