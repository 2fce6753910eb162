// How long an approval takes to reach a waiting run: a waiter process (waiter.mjs) waits on a request
// through one store instance; this process stores an approval through another. Latency runs from the
// moment putApproval is called (so it includes the write itself: an upper bound) to the moment the
// waiter has re-read and seen the approval. PostgreSQL wakes through LISTEN/NOTIFY; the file store
// through fs.watch with a 250 ms poll behind it.
//
// The records are shaped like guard's but unsigned: stores never check signatures (commands do), and
// nothing reads these back but the waiter, in a throwaway store.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { median, now, trackChild } from "./harness.mjs";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const UNSIGNED = "-----BEGIN SSH SIGNATURE-----\n(unsigned: bench record)\n-----END SSH SIGNATURE-----\n";

function newId() {
  let id = "r-";
  for (const b of randomBytes(20)) id += BASE32[b & 31];
  return id;
}

function request(id) {
  const created = new Date();
  return {
    request: {
      v: 1,
      id,
      requester: { principal: "dave", fingerprint: "SHA256:bench-dave", key: "ssh-ed25519 AAAA dave@bench" },
      argv: ["./scripts/race.sh", "/tmp/ran.log"],
      program: { path: "/srv/ops/scripts/race.sh", sha256: "ab".repeat(32) },
      cwd: "/srv/ops",
      environment: { name: "production", protected: true, evidence: [] },
      env: {},
      stdin: { kind: "empty" },
      reason: "bench: wake-up latency",
      policyDigest: "ef".repeat(32),
      rules: ["rule-0000"],
      requirements: [{ rule: "rule-0000", approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 }],
      breakGlass: false,
      createdAt: created.toISOString(),
      expiresAt: new Date(created.getTime() + 1_800_000).toISOString(),
      nonce: randomBytes(16).toString("hex"),
    },
    signature: UNSIGNED,
  };
}

function approval(requestId) {
  return {
    statement: {
      v: 1,
      requestId,
      requestDigest: "12".repeat(32),
      decision: "approve",
      principal: "alice",
      fingerprint: "SHA256:bench-alice",
      comment: null,
      createdAt: new Date().toISOString(),
      nonce: randomBytes(16).toString("hex"),
    },
    signature: UNSIGNED,
  };
}

/** Messages from the waiter, one at a time, in order. */
function inbox(child) {
  const queue = [];
  const takers = [];
  child.on("message", (m) => (takers.length ? takers.shift()(m) : queue.push(m)));
  child.on("exit", (code) => {
    const m = { error: `the waiter exited (${code})` };
    while (takers.length) takers.shift()(m);
    queue.push(m);
  });
  return async (timeoutMs = 10_000) => {
    const m = queue.length
      ? queue.shift()
      : await Promise.race([new Promise((r) => takers.push(r)), sleep(timeoutMs).then(() => ({ error: `the waiter did not answer in ${timeoutMs} ms` }))]);
    if (m.error) throw new Error(`wake-up bench: ${m.error}`);
    return m;
  };
}

/**
 * `trials` timed wake-ups (after one untimed warm-up that opens the LISTEN connection). Returns
 * { median, p90, max, writeMedian, samples } in ms.
 */
export async function measureWakeup(mod, bundleUrl, storeUrl, trials) {
  const writer = storeUrl.startsWith("postgres") ? await mod.openPostgresStore(storeUrl) : await mod.openFileStore(storeUrl.slice("file:".length));
  const child = trackChild(fork(fileURLToPath(new URL("./waiter.mjs", import.meta.url)), [bundleUrl, storeUrl], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  const next = inbox(child);
  try {
    await next(15_000); // ready
    const samples = [];
    const writes = [];
    for (let t = 0; t <= trials; t++) {
      const id = newId();
      await writer.putRequest(request(id));
      child.send({ wait: id });
      if ((await next()).waiting !== id) throw new Error("wake-up bench: the waiter lost track");
      // Let the wait settle in (the waiter is inside waitForChange well before this), at a random
      // phase of its one-second fallback poll.
      await sleep(100 + Math.floor(Math.random() * 200));
      const t0 = now();
      await writer.putApproval(id, approval(id));
      const t1 = now();
      const saw = await next(5_000);
      if (saw.saw !== id) throw new Error("wake-up bench: the waiter saw the wrong request");
      if (t > 0) {
        samples.push(saw.at - t0);
        writes.push(t1 - t0);
      }
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return { median: median(samples), p90: sorted[Math.floor(sorted.length * 0.9)], max: sorted[sorted.length - 1], writeMedian: median(writes), samples };
  } finally {
    if (child.connected) child.send({ exit: true });
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(3_000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
    await writer.close();
  }
}
