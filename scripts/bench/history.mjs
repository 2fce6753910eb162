// History for the bench (issue 18): a store holding N finished requests — a year of them — made fast and
// realistically. One genuine request is made by the real CLI (`guard run` as the requester, exit 75);
// each historic request is a copy of it with its own id, nonce, ticket argument and times spread over
// the past year, re-signed with the requester's real ssh-keygen key (its OpenSSH private key is read
// here and signed with node:crypto's ed25519 in the SSHSIG layout, about 50 µs a request), so every
// record verifies as guard would check it. Nine in ten are consumed (a consumption record, as a run
// leaves), the rest expired unanswered. They go in through guard's own Store (bundled from src/), so
// the file store's indexes and PostgreSQL's columns are exactly what guard writes.
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

/**
 * Put `count` historic copies of `template` (a SignedRequest made by the CLI) into `store`, signed with
 * `keyFile` (whose public line is `publicLine`). `now` is the store's clock. Returns what the audit log
 * needs of each, oldest first: { id, digest, argv, createdMs, consumedMs (null: expired unanswered) }.
 */
export async function writeHistory({ mod, store, template, keyFile, publicLine, count, now, batch = 32, samples = [] }) {
  const key = opensshEd25519(keyFile);
  const publicKey = Buffer.from(publicLine.split(/\s+/)[1], "base64");
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
    const data = mod.signedData(mod.SIG_NAMESPACE.request, "sha512", mod.requestMessage(request));
    const signature = mod.encodeSshSig({
      version: 1,
      publicKey,
      namespace: mod.SIG_NAMESPACE.request,
      reserved: Buffer.alloc(0),
      hashAlgorithm: "sha512",
      signatureType: "ssh-ed25519",
      signatureBytes: sign(null, data, key),
    });
    facts[count - 1 - i] = { id: request.id, digest: mod.requestDigest(request), argv, createdMs: created, consumedMs: i % 10 !== 9 ? created + 60_000 : null };
    return { request, signature };
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
      }),
    );
  }
  return facts;
}

/** The event types a request's life leaves in the audit log, in order (approvals aside: see historyBursts). */
const LIFE = ["request.created", "run.intent", "request.consumed", "run.started", "run.finished"];

/**
 * The audit events of the history, as bursts for writeAuditLog: for each historic request, the events
 * the CLI wrote for the template request's life (`templateEvents`: request.created; then, for one that
 * was consumed, run.intent, request.consumed, run.started and run.finished), with the historic request's
 * id, digest, argv, a run id of its own and its times. No approval.recorded: the history holds no
 * approval records, and `audit verify` rightly reports an approval event whose record is missing.
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
          return { type, actor, data, at: k === 0 ? 0 : f.consumedMs - f.createdMs + (k - 2) + (type === "run.finished" ? data.durationMs : 0) };
        });
      },
    };
  });
}

/**
 * Check sample requests with OpenSSH itself: `ssh-keygen -Y verify` against an allowed_signers file
 * holding the requester's public key, over the exact bytes guard verifies (requestMessage). Throws
 * naming the request when one does not verify.
 */
export async function verifyWithSshKeygen({ mod, samples, principal, publicLine, dir }) {
  const { execFile } = await import("node:child_process");
  const { writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const allowed = join(dir, "allowed_signers");
  await writeFile(allowed, `${principal} ${publicLine}\n`);
  for (const signed of samples) {
    const sig = join(dir, `${signed.request.id}.sig`);
    await writeFile(sig, signed.signature);
    await new Promise((resolve, reject) => {
      const child = execFile("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", principal, "-n", mod.SIG_NAMESPACE.request, "-s", sig], (err, stdout, stderr) =>
        err ? reject(new Error(`ssh-keygen -Y verify refused the generated request ${signed.request.id}: ${stderr || stdout || err.message}`)) : resolve(),
      );
      child.stdin.end(mod.requestMessage(signed.request));
    });
  }
}
