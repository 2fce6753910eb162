// A long audit log in the file store's format, written directly: <store>/audit/events.jsonl, one
// canonical JSON event per line, chained (each `prev` is the previous `hash`).
//
// chainEvent costs ~10 µs an event (it round-trips every draft through JSON to make it canonical), too
// slow for a million. The events here are written as text with their keys already in canonical order
// (string templates), so each costs one SHA-256 (crypto.hash, Node >= 20.12). Guard's own chainEvent is the referee:
// the first events and a sample through the whole log are re-made with it and must come out byte for
// byte the same, or the bench stops.
import { hash as oneShotHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";

const ACTORS = ["alice", "bob", "carol", "dave"].map((u) => ({ fingerprint: null, principal: null, user: u }));
const T0 = Date.parse("2026-01-05T08:00:00.000Z");

/**
 * The i-th draft (0-based): runs started and finished in pairs (every run finishes, so none reads as
 * interrupted), and in every hundred events two refusals.
 */
function draftAt(i) {
  const actor = ACTORS[i % 4];
  const runId = `run-${(i >> 1).toString(16).padStart(32, "0")}`;
  if (i % 100 >= 98) {
    return {
      type: "run.refused",
      actor,
      data: {
        argv: ["tool-7", "destroy"],
        environment: "production",
        evidence: [{ detail: 'DATABASE_URL matches "*prod-db*"', environment: "production", source: "env", subject: "DATABASE_URL", value: "postgres://app@prod-db.internal:5432/elb" }],
        exitCode: 77,
        program: "/usr/local/bin/tool-7",
        reasons: ["rule-0007: tool-7 destroy against production runs only from the release pipeline"],
        rules: ["rule-0007"],
      },
    };
  }
  if (i % 2 === 0) {
    return {
      type: "run.started",
      actor,
      data: {
        argv: ["./scripts/report-lb-state.sh", "--region", "us-east-1"],
        breakGlass: false,
        cwd: "/srv/ops",
        environment: "staging",
        program: { path: "/srv/ops/scripts/report-lb-state.sh", sha256: null },
        requestId: null,
        rules: [],
        runId,
      },
    };
  }
  return { type: "run.finished", actor, data: { durationMs: 40 + (i % 997), exitCode: 0, requestId: null, runId, signal: null } };
}

// The same events as text, with their keys in canonical order: only the run id and duration vary, so
// each type is a template (draftAt above is what the templates must agree with, event for event).
const ACTOR_JSON = ACTORS.map((a) => JSON.stringify(a));
const STARTED = JSON.stringify({ ...draftAt(0).data, runId: "" }).slice(0, -2); // up to runId's opening quote
const REFUSED = JSON.stringify(draftAt(98).data);

function dataJsonAt(i) {
  const runId = `run-${(i >> 1).toString(16).padStart(32, "0")}`;
  if (i % 100 >= 98) return REFUSED;
  if (i % 2 === 0) return `${STARTED}${runId}"}`;
  return `{"durationMs":${40 + (i % 997)},"exitCode":0,"requestId":null,"runId":"${runId}","signal":null}`;
}

const typeAt = (i) => (i % 100 >= 98 ? "run.refused" : i % 2 === 0 ? "run.started" : "run.finished");

/**
 * Writes `count` events; returns the head. `mod` is the bundle of guard's modules (chainEvent,
 * canonicalJson). Events are a millisecond apart from 2026-01-05, or, with `spread`, `spread.stepMs`
 * apart so that the last one is at `spread.endMs` (a year of history that ends now).
 */
export function writeAuditLog(storeDir, count, mod, spread = null) {
  mkdirSync(join(storeDir, "audit"), { recursive: true, mode: 0o700 });
  const fd = openSync(join(storeDir, "audit", "events.jsonl"), "wx", 0o600);
  let prev = mod.GENESIS;
  // Lines go straight into one reused buffer: holding thousands of strings until a join would promote
  // them to the old generation, and the bench would spend its time collecting garbage.
  const buf = Buffer.allocUnsafe(1 << 22);
  let used = 0;
  let second = "";
  try {
    for (let i = 0; i < count; i++) {
      const seq = i + 1;
      // One event a millisecond; the date is formatted once per second of log (toISOString is slow).
      let time;
      if (spread) {
        time = new Date(spread.endMs - (count - 1 - i) * spread.stepMs).toISOString();
      } else {
        if (i % 1000 === 0) second = new Date(T0 + i).toISOString().slice(0, 20);
        time = `${second}${String(i % 1000).padStart(3, "0")}Z`;
      }
      const head = `{"actor":${ACTOR_JSON[i % 4]},"data":${dataJsonAt(i)},`;
      const tail = `"prev":"${prev}","seq":${seq},"time":"${time}","type":"${typeAt(i)}"}`;
      const hash = oneShotHash("sha256", head + tail, "hex"); // one-shot: ~2.5x faster than createHash
      const line = `${head}"hash":"${hash}",${tail}`;
      if (i < 200 || i % 9973 === 0 || i === count - 1) {
        const ref = mod.canonicalJson(mod.chainEvent(seq === 1 ? null : { seq: seq - 1, hash: prev }, draftAt(i), time));
        if (ref !== line) throw new Error(`audit log generator disagrees with chainEvent at seq ${seq}:\n  ours: ${line}\n  guard: ${ref}`);
      }
      if (used + line.length * 3 + 1 > buf.length) {
        writeAll(fd, buf, used);
        used = 0;
      }
      used += buf.write(line, used, "utf8");
      buf[used++] = 10;
      prev = hash;
    }
    writeAll(fd, buf, used);
  } finally {
    closeSync(fd);
  }
  return { seq: count, hash: prev };
}

function writeAll(fd, buf, length) {
  for (let off = 0; off < length; ) off += writeSync(fd, buf, off, length - off);
}

/**
 * Copy a log written by writeAuditLog into a PostgreSQL store's guard_audit, as its owner, with COPY
 * through psql (the rows feed migration 5's indexes as appends do), then ANALYZE, as autovacuum would
 * after such a load. Migration 2's CHECK on every row costs ~0.7 ms a row on the bench machine (12
 * minutes for a million), so it is set aside for the load and put back NOT VALID, as an upgraded
 * installation has it: this measures reading, and the rows are guard's own, event for event.
 */
export async function loadAuditLogIntoPostgres(eventsPath, dbUrl, schema) {
  const { spawn } = await import("node:child_process");
  const { createReadStream } = await import("node:fs");
  const { createInterface } = await import("node:readline");
  const psql = (sql, input) =>
    new Promise((resolve, reject) => {
      const child = spawn("psql", [dbUrl, "-v", "ON_ERROR_STOP=1", "-qtAc", sql], { stdio: [input ? "pipe" : "ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`psql ${sql.slice(0, 60)}… exited ${code}: ${err.trim()}`))));
      if (input) input(child.stdin).catch(reject);
    });
  const TAIL = /"hash":"([0-9a-f]{64})","prev":"[0-9a-f]{64}","seq":(\d+),"time":"([^"]+)","type":"[^"]+"\}$/;
  await psql(`ALTER TABLE ${schema}.guard_audit DROP CONSTRAINT guard_audit_row_is_an_event`);
  await psql(`COPY ${schema}.guard_audit (seq, hash, body, time) FROM STDIN WITH (FORMAT csv)`, async (stdin) => {
    let chunk = "";
    for await (const line of createInterface({ input: createReadStream(eventsPath), crlfDelay: Infinity })) {
      const m = TAIL.exec(line);
      if (!m) throw new Error(`not a canonical event line: ${line.slice(0, 200)}`);
      chunk += `${m[2]},${m[1]},"${line.replaceAll('"', '""')}",${m[3]}\n`;
      if (chunk.length > 1 << 20) {
        if (!stdin.write(chunk)) await new Promise((r) => stdin.once("drain", r));
        chunk = "";
      }
    }
    stdin.end(chunk);
  });
  await psql(`ALTER TABLE ${schema}.guard_audit ADD CONSTRAINT guard_audit_row_is_an_event CHECK (${schema}.guard_audit_row_ok(seq, hash, body)) NOT VALID`);
  await psql(`ANALYZE ${schema}.guard_audit`);
}
