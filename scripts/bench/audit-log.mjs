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
 *
 * With `bursts` (and `spread`): other events interleaved with the filler at their times — a store's
 * history, whose requests left their own events (request.created, run.intent, request.consumed,
 * run.started, run.finished). `bursts` is sorted by `timeMs`; each burst's `drafts()` gives its events
 * (drafts as guard appends them: { type, actor, data }, with `at`: ms after the burst's time), made
 * with guard's own chainEvent and canonicalJson; `count` is the total, the filler is what the bursts
 * leave. Times never go back: a filler event that would come before the end of a burst takes the
 * burst's last time. `onEvent(event, offset)` is told of each burst event and the byte offset of its
 * line in events.jsonl (what the file store's index/created holds for a request.created).
 */
export function writeAuditLog(storeDir, count, mod, spread = null, bursts = null, onEvent = null) {
  if (bursts && !spread) throw new Error("writeAuditLog: bursts need spread times");
  const burstEvents = bursts ? bursts.reduce((n, b) => n + b.events, 0) : 0;
  const fillers = count - burstEvents;
  if (fillers < 0) throw new Error(`writeAuditLog: ${count} events cannot hold the ${burstEvents} events of the bursts`);
  mkdirSync(join(storeDir, "audit"), { recursive: true, mode: 0o700 });
  const fd = openSync(join(storeDir, "audit", "events.jsonl"), "wx", 0o600);
  let prev = mod.GENESIS;
  let seq = 0;
  let lastMs = -Infinity;
  // Lines go straight into one reused buffer: holding thousands of strings until a join would promote
  // them to the old generation, and the bench would spend its time collecting garbage.
  const buf = Buffer.allocUnsafe(1 << 22);
  let used = 0;
  let flushed = 0;
  let second = "";
  const put = (line) => {
    if (used + line.length * 3 + 1 > buf.length) {
      writeAll(fd, buf, used);
      flushed += used;
      used = 0;
    }
    used += buf.write(line, used, "utf8");
    buf[used++] = 10;
  };
  let b = 0;
  const burstsUpTo = (ms) => {
    for (; bursts && b < bursts.length && bursts[b].timeMs <= ms; b++) {
      const burst = bursts[b];
      for (const d of burst.drafts()) {
        const t = Math.max(lastMs, burst.timeMs + (d.at ?? 0));
        lastMs = t;
        const event = mod.chainEvent(seq === 0 ? null : { seq, hash: prev }, { type: d.type, actor: d.actor, data: d.data }, new Date(t).toISOString());
        const offset = flushed + used;
        put(mod.canonicalJson(event));
        seq = event.seq;
        prev = event.hash;
        onEvent?.(event, offset);
      }
    }
  };
  try {
    for (let i = 0; i < fillers; i++) {
      // One event a millisecond; the date is formatted once per second of log (toISOString is slow).
      let time;
      if (spread) {
        const ms = spread.endMs - (fillers - 1 - i) * spread.stepMs;
        burstsUpTo(ms);
        lastMs = Math.max(lastMs, ms);
        time = new Date(lastMs).toISOString();
      } else {
        if (i % 1000 === 0) second = new Date(T0 + i).toISOString().slice(0, 20);
        time = `${second}${String(i % 1000).padStart(3, "0")}Z`;
      }
      seq++;
      const head = `{"actor":${ACTOR_JSON[i % 4]},"data":${dataJsonAt(i)},`;
      const tail = `"prev":"${prev}","seq":${seq},"time":"${time}","type":"${typeAt(i)}"}`;
      const hash = oneShotHash("sha256", head + tail, "hex"); // one-shot: ~2.5x faster than createHash
      const line = `${head}"hash":"${hash}",${tail}`;
      if (i < 200 || i % 9973 === 0 || i === fillers - 1) {
        const ref = mod.canonicalJson(mod.chainEvent(seq === 1 ? null : { seq: seq - 1, hash: prev }, draftAt(i), time));
        if (ref !== line) throw new Error(`audit log generator disagrees with chainEvent at seq ${seq}:\n  ours: ${line}\n  guard: ${ref}`);
      }
      put(line);
      prev = hash;
    }
    burstsUpTo(Infinity);
    writeAll(fd, buf, used);
  } finally {
    closeSync(fd);
  }
  if (seq !== count) throw new Error(`writeAuditLog: wrote ${seq} events, expected ${count}`);
  return { seq: count, hash: prev };
}

function writeAll(fd, buf, length) {
  for (let off = 0; off < length; ) off += writeSync(fd, buf, off, length - off);
}

/**
 * Copy a log written by writeAuditLog into a PostgreSQL store's guard_audit, as its owner, with COPY
 * through psql, then ANALYZE, as autovacuum would after such a load. The rows are guard's own, event for
 * event, and the indexes end up exactly as guard's migrations define them: the table's indexes that back
 * no constraint (migration 5's expression indexes on the body, the consumed index) are dropped for the
 * load and re-made from their own definitions (pg_get_indexdef) after it — one bulk build instead of a
 * million insertions into each, which took 3–9 minutes on the bench machine. Migration 2's CHECK on every
 * row costs ~0.7 ms a row (12 minutes for a million), so it is set aside for the load and put back NOT
 * VALID, as an upgraded installation has it: this measures reading.
 */
export async function loadAuditLogIntoPostgres(eventsPath, dbUrl, schema) {
  const { spawn } = await import("node:child_process");
  const { createReadStream } = await import("node:fs");
  const { createInterface } = await import("node:readline");
  const psql = (sql, input) =>
    new Promise((resolve, reject) => {
      const child = spawn("psql", [dbUrl, "-v", "ON_ERROR_STOP=1", "-qtAc", sql], { stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
      let err = "";
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`psql ${sql.slice(0, 60)}… exited ${code}: ${err.trim()}`))));
      if (input) input(child.stdin).catch(reject);
    });
  const TAIL = /"hash":"([0-9a-f]{64})","prev":"[0-9a-f]{64}","seq":(\d+),"time":"([^"]+)","type":"[^"]+"\}$/;
  // One line per index: its name, a tab, its definition (which names the schema).
  const indexes = (
    await psql(
      `SELECT c.relname || chr(9) || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = '${schema}.guard_audit'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY 1`,
    )
  )
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\t"));
  if (indexes.some((x) => x.length !== 2 || x[1].includes("\n"))) throw new Error(`unexpected index definitions on ${schema}.guard_audit: ${JSON.stringify(indexes)}`);
  await psql(`ALTER TABLE ${schema}.guard_audit DROP CONSTRAINT guard_audit_row_is_an_event`);
  for (const [name] of indexes) await psql(`DROP INDEX ${schema}.${name}`);
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
  for (const [, def] of indexes) await psql(def);
  await psql(`ALTER TABLE ${schema}.guard_audit ADD CONSTRAINT guard_audit_row_is_an_event CHECK (${schema}.guard_audit_row_ok(seq, hash, body)) NOT VALID`);
  await psql(`ANALYZE ${schema}.guard_audit`);
  return indexes.map(([name]) => name);
}
