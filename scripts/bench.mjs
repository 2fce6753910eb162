#!/usr/bin/env node
// `npm run bench`: guard's performance targets (docs/benchmarks.md, PERFORMANCE.md), measured side by side
// in one run and judged. Start-up is a ratio to a floor (a bare Node spawn wrapper) over paired,
// interleaved runs, on the Node that runs the bench (run it with another node binary to measure
// another Node line); audit verification, memory, wake-up latency and the approval race are absolute.
// Exits 1 when any target is missed or any scenario cannot be measured.
//
//   node scripts/bench.mjs [--rounds 30] [--events 1000000] [--trials 20] [--racers 50]
//                          [--history 10000] [--history-events EVENTS] [--history-rounds 7] [--cold-rounds 10]
//                          [--only startup,verify,memory,wakeup,race,history,auditlog,coldstart,policyedit,checkmem]
//                          [--no-hyperfine]
//
// Everything happens in a fresh temporary directory and a throwaway PostgreSQL database, both removed
// at the end (also on Ctrl-C); every process the bench starts is reaped or killed by its pid.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { appendFile, cp, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadAuditLogIntoPostgres, writeAuditLog } from "./bench/audit-log.mjs";
import { bundleGuardModules } from "./bench/bundle.mjs";
import { APPROVER, cleanEnv, makeKeys, PROD_DB, REQUESTER, writePolicy, writeScripts } from "./bench/fixtures.mjs";
import { historyBursts, verifyWithSshKeygen, writeHistory } from "./bench/history.mjs";
import { hasGnuTime, killLiveChildren, maxRssMb, median, now, pairedRatio, pairedRounds, runOnce, runWithUsage } from "./bench/harness.mjs";
import { measureFlood } from "./bench/memory.mjs";
import { createBenchDatabase, dropBenchDatabase } from "./bench/postgres.mjs";
import { measureRunWakeup } from "./bench/wakeup-run.mjs";
import { race, raceLog } from "./bench/race.mjs";
import { failed, machine, renderMarkdown, renderText, row } from "./bench/report.mjs";
import { measureWakeup } from "./bench/wakeup.mjs";

const hasCompileCache = typeof (await import("node:module")).enableCompileCache === "function";
const SCENARIOS = ["startup", "verify", "memory", "wakeup", "race", "history", "auditlog", "coldstart", "policyedit", "checkmem"];
const { values: o } = parseArgs({
  options: {
    rounds: { type: "string", default: "30" },
    events: { type: "string", default: "1000000" },
    trials: { type: "string", default: "20" },
    racers: { type: "string", default: "50" },
    history: { type: "string", default: "10000" },
    "history-events": { type: "string" },
    "history-rounds": { type: "string", default: "7" },
    "cold-rounds": { type: "string", default: "10" },
    only: { type: "string", default: SCENARIOS.join(",") },
    "no-hyperfine": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (o.help) {
  const text = await readFile(fileURLToPath(import.meta.url), "utf8");
  const header = text.split("\n").slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith("//")));
  process.stdout.write(`${header.map((l) => l.replace(/^\/\/ ?/, "")).join("\n")}\n`);
  process.exit(0);
}
const int = (name) => {
  const n = Number(o[name]);
  if (!Number.isSafeInteger(n) || n < 1) usage(`--${name} must be a positive integer, got ${JSON.stringify(o[name])}`);
  return n;
};
const ROUNDS = int("rounds");
const EVENTS = int("events");
const TRIALS = int("trials");
const RACERS = int("racers");
const HISTORY = int("history");
o["history-events"] ??= o.events;
const HISTORY_EVENTS = int("history-events");
const HISTORY_ROUNDS = int("history-rounds");
const COLD_ROUNDS = int("cold-rounds");
const ONLY = new Set(o.only.split(",").map((s) => s.trim()).filter(Boolean));
for (const s of ONLY) if (!SCENARIOS.includes(s)) usage(`--only: unknown scenario ${JSON.stringify(s)} (known: ${SCENARIOS.join(", ")})`);

function usage(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(64);
}

const say = (s) => process.stderr.write(`bench: ${s}\n`);
const ms = (x) => `${Math.round(x)} ms`;
const mb = (x) => (x === null ? "n/a" : `${x.toFixed(1)} MB`);
const times = (x) => `${x.toFixed(2)}×`;
const times2 = times;

const repo = fileURLToPath(new URL("..", import.meta.url));
if (!existsSync(join(repo, "dist", "guard.cjs"))) usage("dist/guard.cjs is missing: run `npm run build` first (npm run bench does)");

const root = await mkdtemp(join(tmpdir(), "guard-bench-"));
let database = null;
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  killLiveChildren();
  if (database) await dropBenchDatabase(database.name).catch((e) => say(`warning: could not drop database ${database.name}: ${e.message}`));
  await rm(root, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    say(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

const rows = [];
const notes = [];
let startupRounds = 0;
/** Run one scenario; a scenario that throws becomes an ERROR row (and fails the bench), the rest go on. */
async function scenario(name, what, body) {
  if (!ONLY.has(name)) return;
  const t = now();
  try {
    await body();
  } catch (err) {
    rows.push(row(what, "", "", "", null, null, err instanceof Error ? err.message : String(err)));
    say(`${name}: ERROR ${err instanceof Error ? err.stack : err}`);
  }
  say(`${name}: done in ${((now() - t) / 1000).toFixed(1)} s`);
}

try {
  const started = now();
  // --- the world -----------------------------------------------------------------------------------
  // A snapshot of the built CLI, so that a rebuild in the checkout during the bench cannot break it.
  const guardBin = join(root, "guard", "bin", "guard.js");
  await cp(join(repo, "bin"), join(root, "guard", "bin"), { recursive: true });
  await cp(join(repo, "dist"), join(root, "guard", "dist"), { recursive: true });
  const floor = join(repo, "scripts", "bench", "floor.mjs");
  const world = join(root, "world");
  await mkdir(join(root, "home"), { recursive: true, mode: 0o700 });
  const keys = await makeKeys(join(root, "keys"));
  await writePolicy(join(world, "policy-20"), keys, 20);
  await writePolicy(join(world, "policy-1000"), keys, 1000);
  await writeScripts(world);
  const guard = (args, env, opts = {}) => runOnce(process.execPath, [guardBin, ...args], { env, ...opts });
  const env20 = cleanEnv(root, { GUARD_POLICY: join(world, "policy-20"), GUARD_STORE: `file:${join(root, "store-run")}` });
  const env1000 = cleanEnv(root, { GUARD_POLICY: join(world, "policy-1000"), GUARD_STORE: `file:${join(root, "store-check")}` });
  const needModules = ONLY.has("verify") || ONLY.has("wakeup") || ONLY.has("history") || ONLY.has("auditlog");
  const modules = needModules ? await bundleGuardModules(repo, root) : null;
  const mod = modules ? await import(modules.url) : null;
  say(`world ready in ${root} (${ms(now() - started)})`);

  // --- 1, 2: start-up against the floor ------------------------------------------------------------
  await scenario("startup", "start-up", async () => {
    const cases = [
      { name: "node", file: process.execPath, args: ["-e", "0"], env: env20, cwd: world },
      { name: "floor", file: process.execPath, args: [floor, "/bin/true"], env: env20, cwd: world },
      { name: "run", file: process.execPath, args: [guardBin, "run", "--", "/bin/true"], env: env20, cwd: world },
      { name: "check", file: process.execPath, args: [guardBin, "check", "--json", "--", "/bin/true"], env: env1000, cwd: world },
    ];
    say(`start-up: up to ${ROUNDS} paired, interleaved rounds (+3 warm-up) of: node -e 0 | floor | guard run (20 rules) | guard check (1,000 rules)`);
    const { times: t, rounds } = await pairedRounds(cases, { rounds: ROUNDS, warmup: 3, budgetMs: 75_000, minRounds: Math.min(10, ROUNDS) });
    startupRounds = rounds;
    const rss = {};
    if (hasGnuTime()) for (const c of cases) rss[c.name] = await maxRssMb(c.file, c.args, { env: c.env, cwd: c.cwd, label: c.name }, root);
    const line = (name) => `${ms(median(t[name]))}, ${mb(rss[name] ?? null)}, ${times(pairedRatio(t[name], t.floor))}`;
    const rRun = pairedRatio(t.run, t.floor);
    const rCheck = pairedRatio(t.check, t.floor);
    rows.push(row("`node -e 0` (reference)", line("node")));
    rows.push(row("floor: bare ESM spawn wrapper → `/bin/true`", line("floor")));
    // Node ≥ 22 keeps guard's compiled code between runs (module.enableCompileCache, bin/guard.js);
    // Node 20 compiles guard's bundle on every run, and is held to a looser target.
    const runTarget = hasCompileCache ? 1.25 : 1.35;
    rows.push(row(`\`guard run -- /bin/true\`, unprotected, 20 rules, file store (Node ${process.versions.node})`, line("run"), `≤ ${runTarget.toFixed(2)}×`, "≤ 1.10×", rRun <= runTarget, rRun <= 1.1));
    rows.push(row("`guard check --json -- /bin/true`, 1,000 rules", line("check"), "≤ 1.5×", "≤ 1.2×", rCheck <= 1.5, rCheck <= 1.2));

    if (!o["no-hyperfine"] && existsSync("/usr/bin/hyperfine")) {
      // A cross-check with a public tool. hyperfine runs each command's batch in turn (not
      // interleaved), so under changing load its ratio is less trustworthy than the paired one.
      const out = join(root, "hyperfine.json");
      await runOnce("/usr/bin/hyperfine", ["-N", "--style", "none", "--warmup", "3", "--runs", String(Math.max(10, Math.round(ROUNDS / 2))), "--export-json", out, `${process.execPath} ${floor} /bin/true`, `${process.execPath} ${guardBin} run -- /bin/true`], { env: env20, cwd: world, label: "hyperfine" });
      const [hf, hg] = JSON.parse(await readFile(out, "utf8")).results.map((r) => r.median * 1000);
      rows.push(row("hyperfine cross-check (batches, not interleaved): floor vs `guard run`", `${ms(hf)} vs ${ms(hg)}: ${times(hg / hf)}`));
    }
  });

  // --- 4: memory under an output flood -------------------------------------------------------------
  await scenario("memory", "peak RSS of `guard run` under a flood", async () => {
    say("memory: guard run -- flood.sh, 10 MB and 2 GB to /dev/null, 3 runs each");
    const f = await measureFlood(guard, env20, world, { small: 10_000_000, large: 2_000_000_000, runs: 3 });
    const delta = f.largeMb - f.smallMb;
    const ok = f.smallMb <= 60 && f.largeMb <= 60 && Math.abs(delta) <= 5;
    rows.push(row("peak RSS of `guard run` (own VmHWM): 10 MB vs 2 GB flood", `${mb(f.smallMb)} vs ${mb(f.largeMb)} (${delta >= 0 ? "+" : ""}${delta.toFixed(1)} MB; 2 GB took ${(f.largeMs / 1000).toFixed(1)} s)`, "≤ 60 MB, flat (Δ ≤ 5 MB)", "", ok));
  });

  // --- 3: audit verify over a million events ------------------------------------------------------
  await scenario("verify", "`guard audit verify`", async () => {
    const store = join(root, "store-audit");
    const t = now();
    const head = writeAuditLog(store, EVENTS, mod);
    const genMs = now() - t;
    notes.push(`audit log: ${EVENTS.toLocaleString("en-US")} events generated in ${(genMs / 1000).toFixed(1)} s (checked against guard's chainEvent)`);
    say(`verify: ${EVENTS.toLocaleString("en-US")} events written in ${(genMs / 1000).toFixed(1)} s; guard audit verify × 3`);
    const env = cleanEnv(root, { GUARD_POLICY: join(world, "policy-20"), GUARD_STORE: `file:${store}` });
    const runs = [];
    const cpu = [];
    for (let i = 0; i < 3; i++) {
      // Under GNU time where there is one: the CPU the verify used (its worker threads' included), from
      // the kernel's resource usage of the child, beside its wall time.
      const opts = { cwd: world, stdout: "pipe", label: "guard audit verify" };
      const u = await runWithUsage(process.execPath, [guardBin, "audit", "verify"], { env, ...opts }, root);
      const r = u ?? (await guard(["audit", "verify"], env, opts));
      if (u) cpu.push(u.cpuMs / u.ms);
      if (!r.stdout.includes(`head: ${head.seq}:${head.hash}`)) throw new Error(`guard audit verify did not report the expected head ${head.seq}:${head.hash}:\n${r.stdout.slice(0, 2000)}`);
      if (/interrupted|✖/.test(r.stdout)) throw new Error(`guard audit verify reported problems in a clean log:\n${r.stdout.slice(0, 2000)}`);
      runs.push(r.ms);
    }
    const m = median(runs) / 1000;
    const cpuNote = cpu.length ? `; CPU (user+sys) / wall ${median(cpu).toFixed(2)} on ${availableParallelism()} cores` : "";
    rows.push(row(`\`guard audit verify\`, ${EVENTS.toLocaleString("en-US")} events (file store)`, `${m.toFixed(2)} s (median of 3: ${runs.map((x) => (x / 1000).toFixed(2)).join(", ")})${cpuNote}`, "≤ 5 s", "≤ 2 s", m <= 5, m <= 2));
    // What this machine manages right now for the bare minimum (read, JSON.parse, one SHA-256 a line).
    const f = await runOnce(process.execPath, [join(repo, "scripts", "bench", "verify-floor.mjs"), join(store, "audit", "events.jsonl")], { env, stdout: "pipe", label: "verify floor" });
    if (!f.stdout.startsWith(`${EVENTS} `)) throw new Error(`verify floor read ${f.stdout.trim()} lines, expected ${EVENTS}`);
    rows.push(row("floor for verify: read + JSON.parse + SHA-256 per line, bare Node (reference)", `${(f.ms / 1000).toFixed(2)} s (verify is ${times(median(runs) / f.ms)})`));
  });

  // --- 5: approval wake-up latency -----------------------------------------------------------------
  await scenario("wakeup", "approval wake-up", async () => {
    database ??= await createBenchDatabase();
    for (const [label, url] of [
      ["PostgreSQL (LISTEN/NOTIFY)", database.url],
      ["file store (fs.watch + poll)", `file:${join(root, "store-wakeup")}`],
    ]) {
      say(`wakeup: ${label}, ${TRIALS} trials`);
      const w = await measureWakeup(mod, modules.url, url, TRIALS);
      rows.push(row(`approval stored → waiting run sees it, ${label}`, `median ${ms(w.median)}, p90 ${ms(w.p90)}, max ${ms(w.max)} (write ${ms(w.writeMedian)}; ${TRIALS} trials)`, "≤ 250 ms", "≤ 50 ms", w.median <= 250, w.median <= 50));
    }
    // End to end with real processes: a waiting `guard run --wait`, a `guard approve` from another process,
    // to the wrapped command's first instruction (scripts/bench/wakeup-run.mjs).
    for (const [label, store] of [
      ["file store", `file:${join(root, "store-wake-run")}`],
      ["PostgreSQL", database.url],
    ]) {
      say(`wakeup: real guard run --wait, ${label}, ${TRIALS} trials`);
      const base = cleanEnv(root, { GUARD_POLICY: join(world, "policy-20"), GUARD_STORE: store });
      const w = await measureRunWakeup({ guardBin, guard, base, keys, world, root, label: label.replace(/\W+/g, "-") }, TRIALS);
      rows.push(row(`approval stored (\`guard approve\` exited) → wrapped command started, a real waiting \`guard run\`, ${label}`, `median ${ms(w.stored.median)}, p90 ${ms(w.stored.p90)}, max ${ms(w.stored.max)} (${TRIALS} trials)`, "p90 ≤ 250 ms", "", w.stored.p90 <= 250));
      rows.push(row(`… the same from \`guard approve\` started (includes approve's own run: an upper bound), ${label}`, `median ${ms(w.asked.median)}, p90 ${ms(w.asked.p90)}, max ${ms(w.asked.max)}`));
    }
  });

  // --- 6: the approval race ------------------------------------------------------------------------
  await scenario("race", "approval race", async () => {
    database ??= await createBenchDatabase();
    const base0 = cleanEnv(root);
    for (const [label, store] of [
      ["file store", `file:${join(root, "store-race")}`],
      ["PostgreSQL", database.url],
    ]) {
      if (label === "file store") {
        // What N concurrent Node processes cost on this machine right now, guard or not.
        const t = now();
        const floors = await Promise.all(Array.from({ length: RACERS }, () => runOnce(process.execPath, [floor, "/bin/true"], { env: base0, cwd: world, label: "floor" })));
        const last = Math.max(...floors.map((f) => f.ms));
        rows.push(row(`${RACERS} concurrent floors → \`/bin/true\` (reference)`, `last answered ${(last / 1000).toFixed(2)} s (wall ${((now() - t) / 1000).toFixed(2)} s)`));
      }
      say(`race: ${RACERS} × guard run --request, ${label}`);
      const base = cleanEnv(root, { GUARD_POLICY: join(world, "policy-20"), GUARD_STORE: store });
      const r = await race({ guard, base, keys, world, log: raceLog(root, label.replace(/\W+/g, "-")), racers: RACERS });
      const ok = r.ran === 1 && r.jobRuns === 1 && r.refused === RACERS - 1 && r.lastMs <= 2000;
      rows.push(row(`${RACERS} concurrent \`guard run --request\` for one approval, ${label}`, `${r.jobRuns} ran, ${r.refused} refused (77); last answered ${(r.lastMs / 1000).toFixed(2)} s, median ${(r.medianMs / 1000).toFixed(2)} s`, "exactly 1 runs; all ≤ 2 s", "", ok));
    }
  });
  // --- 7: a year of history costs a run nothing (issue 18) -----------------------------------------
  // The issue's store after a year: HISTORY requests and HISTORY_EVENTS audit events together, the
  // requests' own events among them; every target measured on it against a new store, on both stores.
  await scenario("history", "history", async () => {
    database ??= await createBenchDatabase();
    const stores = [
      ["file store", (name) => `file:${join(root, `store-${name}`)}`, (url) => mod.openFileStore(url.slice("file:".length))],
      ["PostgreSQL", (name) => `${database.url}?schema=${name.replace(/\W/g, "_")}`, (url) => mod.openPostgresStore(url)],
    ];
    for (const [label, urlFor, open] of stores) {
      const slug = label.replace(/\W+/g, "-");
      const hist = urlFor("history");
      const fresh = urlFor("fresh");
      const tmpl = urlFor("template");
      const envFor = (store, who, extra = {}) => cleanEnv(root, { GUARD_POLICY: join(world, "policy-20"), GUARD_STORE: store, GUARD_KEY: keys[who].priv, ...extra });
      const asked = (store) => envFor(store, REQUESTER, { DATABASE_URL: PROD_DB });
      const log = join(root, `history-${slug}.log`);
      const requestIdIn = (r, what) => {
        const id = /\br-[a-z2-7]{20}\b/.exec(r.stderr)?.[0];
        if (!id) throw new Error(`${what} printed no request id:\n${r.stderr.slice(0, 2000)}`);
        return id;
      };
      // (race.sh's argument is a file that does not exist when the request is made: one that exists is a
      // file argument the request records, and the historic copies, whose argument differs, would not match it.)
      const firstRequest = (store, arg) => guard(["run", "--confirm", "production", "--reason", "bench: history template", "--", "./scripts/race.sh", arg], asked(store), { cwd: world, expect: 75, label: "guard run (template)" });

      // The template: one genuine request's whole life by the CLI, on a store of its own — `guard run` as
      // dave (exit 75), `guard approve` as alice, `guard run --request` (runs). The historic requests copy
      // its request, and their events copy the events the CLI wrote for it.
      const tid = requestIdIn(await firstRequest(tmpl, join(root, `template-${slug}.log`)), "guard run (template)");
      await guard(["approve", tid, "--yes"], envFor(tmpl, APPROVER), { cwd: world, expect: 0, label: "guard approve (template)" });
      await guard(["run", "--request", tid, "--confirm", "production"], asked(tmpl), { cwd: world, expect: 0, label: "guard run --request (template)" });
      let template;
      let templateApproval;
      const templateEvents = [];
      const ts = await open(tmpl);
      try {
        template = await ts.getRequest(tid);
        [templateApproval] = await ts.listApprovals(tid);
        if (!templateApproval) throw new Error(`the template request ${tid} has no approval record after guard approve`);
        for await (const e of ts.readAudit()) templateEvents.push(e);
      } finally {
        await ts.close();
      }

      // The requests, through guard's Store (a new PostgreSQL schema is migrated as it opens)…
      const s = await open(hist);
      const t = now();
      let facts;
      try {
        const samples = [];
        const approvalSamples = [];
        const approval = { template: templateApproval, keyFile: keys[APPROVER].priv, publicLine: keys[APPROVER].line };
        facts = await writeHistory({ mod, store: s, template, keyFile: keys[REQUESTER].priv, publicLine: keys[REQUESTER].line, approval, count: HISTORY, now: await s.now(), samples, approvalSamples });
        // The signatures are OpenSSH's too, not only guard's verifier's: a sample through ssh-keygen -Y verify.
        await verifyWithSshKeygen({ mod, samples, principal: REQUESTER, publicLine: keys[REQUESTER].line, approvals: approvalSamples, approver: { principal: APPROVER, publicLine: keys[APPROVER].line }, dir: root });
      } finally {
        await s.close();
      }
      const reqS = (now() - t) / 1000;
      // …then the audit log those requests left, among a year of other runs: HISTORY_EVENTS events in all,
      // chained as guard chains them, the last a day ago. The file store's own indexes of the log are
      // written as guard's appends write them (index/created: where each request.created begins;
      // index/consumed: a request.consumed exists), and its seek index is built by guard itself below.
      const t2 = now();
      const bursts = historyBursts(facts, templateEvents, template);
      const own = bursts.reduce((n, x) => n + x.events, 0);
      const total = Math.max(HISTORY_EVENTS, own);
      const endMs = Date.now() - 86_400_000;
      const stepMs = Math.max(1, Math.floor((365 * 86_400_000) / Math.max(1, total - own)));
      const logDir = label === "file store" ? hist.slice("file:".length) : join(root, `events-${slug}`);
      const created = [];
      const consumed = [];
      const head = writeAuditLog(logDir, total, mod, { endMs, stepMs }, bursts, (e, offset) => {
        if (e.type === "request.created") created.push([e.data.requestId, offset]);
        else if (e.type === "request.consumed") consumed.push(e.data.requestId);
      });
      const logS = (now() - t2) / 1000;
      let extra;
      if (label === "file store") {
        for (const [sub, entries] of [
          ["created", created],
          ["consumed", consumed.map((id) => [id, null])],
        ]) {
          const d = join(logDir, "index", sub);
          mkdirSync(d, { recursive: true, mode: 0o700 });
          for (const [id, offset] of entries) writeFileSync(join(d, id), offset === null ? "" : `${offset}\n`, { flag: "wx", mode: 0o600 });
        }
        const t3 = now();
        await guard(["audit", "log", "--since", "1h"], envFor(hist, APPROVER), { cwd: world, stdout: "pipe", label: "guard audit log --since 1h (builds the seek index)", timeoutMs: 600_000 });
        extra = `, index entries written and the seek index built by \`guard audit log --since 1h\` in ${((now() - t3) / 1000).toFixed(1)} s`;
      } else {
        const t3 = now();
        await loadAuditLogIntoPostgres(join(logDir, "audit", "events.jsonl"), database.url, "history");
        await rm(logDir, { recursive: true, force: true });
        extra = `, loaded into PostgreSQL (indexes dropped, COPY, indexes re-made, ANALYZE) in ${((now() - t3) / 1000).toFixed(1)} s`;
      }
      const nReq = HISTORY.toLocaleString("en-US");
      const nEv = total.toLocaleString("en-US");
      notes.push(`${label} history: ${nReq} signed requests (9 in 10 approved and consumed: an approval and a consumption record each) written through guard's Store in ${reqS.toFixed(1)} s; their audit log, ${nEv} events (${own.toLocaleString("en-US")} from the requests' own lives), generated in ${logS.toFixed(1)} s${extra}`);
      say(`history: ${label}: ${nReq} requests in ${reqS.toFixed(1)} s, ${nEv} events in ${logS.toFixed(1)} s${extra}`);

      // `guard audit verify` of the whole store: the chain, every request's signature, every record
      // against its event. It must pass and report the head written: the history is genuine.
      {
        const env = envFor(hist, APPROVER);
        const runs = [];
        const cpu = [];
        const rss = [];
        for (let i = 0; i < 3; i++) {
          const opts = { cwd: world, stdout: "pipe", expect: null, label: `guard audit verify (${label})`, timeoutMs: 3_600_000, maxStdout: 1 << 22 };
          const u = await runWithUsage(process.execPath, [guardBin, "audit", "verify"], { env, ...opts }, root);
          const r = u ?? (await guard(["audit", "verify"], env, opts));
          if (r.code !== 0 || !r.stdout.includes(`head: ${head.seq}:${head.hash}`) || /interrupted|✖/.test(r.stdout)) {
            throw new Error(`guard audit verify of the ${label} history exited ${r.code}, expected 0 with head ${head.seq}:${head.hash} and no problem:\n${r.stdout.slice(0, 3000)}\n${r.stderr.slice(-2000)}`);
          }
          runs.push(r.ms);
          if (u) {
            cpu.push(u.cpuMs / u.ms);
            rss.push(u.rssMb);
          }
          if (r.ms > 60_000) break; // one run of a minute says enough
        }
        const m = median(runs) / 1000;
        const cpuNote = cpu.length ? `; CPU (user+sys) / wall ${median(cpu).toFixed(2)} on ${availableParallelism()} cores; peak RSS ${mb(median(rss))}` : "";
        rows.push(row(`\`guard audit verify\`, ${nEv} events with ${nReq} requests, ${label}`, `${m.toFixed(2)} s (median of ${runs.length}: ${runs.map((x) => (x / 1000).toFixed(2)).join(", ")})${cpuNote}`, "≤ 5 s", "≤ 2 s", m <= 5, m <= 2));
      }

      // The same first request on both stores, by the CLI; on the history store it is appended after the
      // generated log by guard itself.
      await firstRequest(hist, "first");
      await firstRequest(fresh, "first");
      say(`history: ${label}: ${HISTORY_ROUNDS} paired rounds`);

      // Every timed run under GNU time where there is one: its peak RSS (%M) beside its wall time.
      const timed = async (args, env, opts) => (await runWithUsage(process.execPath, [guardBin, ...args], { env, ...opts }, root)) ?? guard(args, env, opts);
      const ops = {
        "protected `guard run` (creates a request, exit 75)": { run: (store, n) => timed(["run", "--confirm", "production", "--reason", "bench", "--", "./scripts/race.sh", `run-${n}`], asked(store), { cwd: world, expect: 75, label: "guard run" }) },
        "`guard request`": { run: (store, n) => timed(["request", "--reason", "bench", "--", "./scripts/race.sh", `req-${n}`], asked(store), { cwd: world, expect: 0, label: "guard request" }) },
        "`guard run --request ID` (approved, runs)": {
          run: async (store, n) => {
            const r = await guard(["run", "--confirm", "production", "--reason", "bench", "--", "./scripts/race.sh", log, `go-${n}`], asked(store), { cwd: world, expect: 75, label: "guard run (request)" });
            const id = requestIdIn(r, "guard run (request)");
            await guard(["approve", id, "--yes"], envFor(store, APPROVER), { cwd: world, expect: 0, label: "guard approve" });
            return timed(["run", "--request", id, "--confirm", "production"], asked(store), { cwd: world, expect: 0, label: "guard run --request" });
          },
        },
        "`guard requests`": { requests: true, run: (store) => timed(["requests"], envFor(store, APPROVER), { cwd: world, stdout: "pipe", expect: 0, label: "guard requests" }) },
        // Today it reads all history (every request verified); a slow run is measured fewer times.
        "`guard requests --review`": { requests: true, budgetMs: 60_000, run: (store) => timed(["requests", "--review"], envFor(store, APPROVER), { cwd: world, stdout: "pipe", expect: 0, label: "guard requests --review", timeoutMs: 3_600_000 }) },
      };
      const res = Object.fromEntries(Object.keys(ops).map((k) => [k, { hist: [], fresh: [], rssHist: [], rssFresh: [], spent: 0, done: false }]));
      for (let round = 0; round < HISTORY_ROUNDS + 1; round++) {
        for (const [name, op] of Object.entries(ops)) {
          const x = res[name];
          if (x.done) continue;
          const order = round % 2 ? [["fresh", fresh], ["hist", hist]] : [["hist", hist], ["fresh", fresh]];
          const got = {};
          for (const [side, store] of order) got[side] = await op.run(store, `${side}-${round}`);
          x.spent += got.hist.ms + got.fresh.ms;
          // Round 0 warms up, unless a run takes so long (> 10 s) that a warm-up changes nothing.
          if (round > 0 || got.hist.ms > 10_000) {
            x.hist.push(got.hist.ms);
            x.fresh.push(got.fresh.ms);
            if (got.hist.rssMb !== undefined) x.rssHist.push(got.hist.rssMb);
            if (got.fresh.rssMb !== undefined) x.rssFresh.push(got.fresh.rssMb);
          }
          if (op.budgetMs !== undefined && x.hist.length > 0 && x.spent > op.budgetMs) x.done = true;
        }
      }
      for (const [name, op] of Object.entries(ops)) {
        const x = res[name];
        const ratio = pairedRatio(x.hist, x.fresh);
        const peak = x.rssHist.length ? median(x.rssHist) : null;
        const rssText = peak === null ? "" : `; peak RSS ${mb(peak)} (new store ${mb(median(x.rssFresh))})`;
        const n = x.hist.length === HISTORY_ROUNDS ? "" : ` (${x.hist.length} paired run${x.hist.length === 1 ? "" : "s"})`;
        const target = op.requests ? "≤ 2×; ≤ 80 MB" : "≤ 1.5×";
        const ok = op.requests ? ratio <= 2 && (peak === null || peak <= 80) : ratio <= 1.5;
        rows.push(row(`${name}, ${label}: ${nReq} requests and ${nEv} events of history vs a new store`, `${ms(median(x.hist))} vs ${ms(median(x.fresh))}: ${times2(ratio)}${rssText}${n}`, target, "", ok));
      }
      // For reference, at sizes where its JSON fits in one string: what reads all of history by design.
      if (HISTORY <= 20_000) {
        const all = await guard(["requests", "--all", "--json"], envFor(hist, APPROVER), { cwd: world, stdout: "pipe", label: "guard requests --all", maxStdout: 1 << 30, timeoutMs: 3_600_000 });
        const listed = JSON.parse(all.stdout);
        const bad = listed.requests.filter((r) => !r.valid);
        if (listed.requests.length < HISTORY || bad.length > 0 || listed.damaged.length > 0) {
          throw new Error(`the generated history does not verify: ${listed.requests.length} listed, ${bad.length} invalid (${bad[0]?.problems?.join("; ")}), ${listed.damaged.length} damaged`);
        }
        rows.push(row(`\`guard requests --all --json\` (reads all history, reference), ${label}`, `${ms(all.ms)}`));
      }
    }
  });

  // --- 8: `guard audit log --since 1h` over a year of audit log (issue 18) --------------------------
  await scenario("auditlog", "`guard audit log --since 1h`", async () => {
    database ??= await createBenchDatabase();
    const store = join(root, "store-auditlog");
    // A year of events (one every ~30 s for a million) that ends a minute ago: the last hour holds ~120.
    const stepMs = Math.max(1, Math.floor((365 * 86_400_000) / EVENTS));
    const t = now();
    writeAuditLog(store, EVENTS, mod, { endMs: Date.now() - 60_000, stepMs });
    const schema = "bench_auditlog";
    const pgUrl = `${database.url}?schema=${schema}`;
    const envFor = (s) => cleanEnv(root, { GUARD_POLICY: join(world, "policy-20"), GUARD_STORE: s });
    await guard(["store", "migrate"], envFor(pgUrl), { cwd: world, label: "guard store migrate" });
    const t2 = now();
    await loadAuditLogIntoPostgres(join(store, "audit", "events.jsonl"), database.url, schema);
    notes.push(`audit log for --since: ${EVENTS.toLocaleString("en-US")} events ${Math.round(stepMs / 1000)} s apart ending a minute before, generated in ${((t2 - t) / 1000).toFixed(1)} s, loaded into PostgreSQL (COPY, then ANALYZE) in ${((now() - t2) / 1000).toFixed(1)} s`);
    say(`auditlog: ${EVENTS.toLocaleString("en-US")} events; guard audit log --since 1h × 6 on each store`);
    for (const [label, env] of [["file store", envFor(`file:${store}`)], ["PostgreSQL", envFor(pgUrl)]]) {
      const args = ["audit", "log", "--since", "1h"];
      const opts = { cwd: world, stdout: "pipe", label: `guard audit log --since 1h (${label})`, timeoutMs: 600_000 };
      const first = await guard(args, env, opts);
      const shown = first.stdout.split("\n").filter((l) => /^\s*\d+\s/.test(l)).length;
      if (shown < 1 || shown > Math.ceil(3_600_000 / stepMs) + 1) throw new Error(`guard audit log --since 1h showed ${shown} events, expected about ${Math.round(3_600_000 / stepMs)}:\n${first.stdout.slice(0, 2000)}`);
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push((await guard(args, env, opts)).ms);
      const m = median(runs) / 1000;
      const firstNote = label === "file store" ? `the first, which builds the seek index: ${(first.ms / 1000).toFixed(2)} s` : `the first: ${(first.ms / 1000).toFixed(2)} s`;
      rows.push(row(`\`guard audit log --since 1h\`, ${EVENTS.toLocaleString("en-US")} events (${shown} in the hour), ${label}`, `${m.toFixed(2)} s (median of 5; ${firstNote})`, "≤ 0.3 s", "", m <= 0.3));
      // For reference: a filter no index serves reads the whole log (what --since cost before).
      const scan = await guard(["audit", "log", "--actor", "nobody-at-all"], env, { ...opts, label: "guard audit log --actor (scan)" });
      rows.push(row(`\`guard audit log --actor X\` (reads the whole log, reference), ${label}`, `${(scan.ms / 1000).toFixed(2)} s`));
    }
  });

  // --- 9: cold start: no policy cache, no compile cache ---------------------------------------------
  const checkArgs = [guardBin, "check", "--json", "--", "/bin/true"];
  /** A cache directory nobody has used: no policy cache, no compile cache (XDG_CACHE_HOME is absolute). */
  let coldDirs = 0;
  const coldEnv = (env) => ({ ...env, XDG_CACHE_HOME: join(root, "cold", String(coldDirs++)) });
  await scenario("coldstart", "cold start", async () => {
    await runOnce(process.execPath, checkArgs, { env: env1000, cwd: world, label: "guard check (warm-up)" });
    const t = { floor: [], warm: [], cold: [] };
    const cases = {
      floor: () => runOnce(process.execPath, [floor, "/bin/true"], { env: env1000, cwd: world, label: "floor" }),
      warm: () => runOnce(process.execPath, checkArgs, { env: env1000, cwd: world, label: "guard check (warm)" }),
      cold: () => runOnce(process.execPath, checkArgs, { env: coldEnv(env1000), cwd: world, label: "guard check (cold)" }),
    };
    const names = Object.keys(cases);
    say(`coldstart: ${COLD_ROUNDS} interleaved rounds of floor | guard check warm | guard check with empty caches (1,000 rules)`);
    for (let r = 0; r < COLD_ROUNDS; r++) for (let k = 0; k < names.length; k++) t[names[(r + k) % names.length]].push((await cases[names[(r + k) % names.length]]()).ms);
    const cc = hasCompileCache ? "no policy cache, no compile cache" : `no policy cache; Node ${process.versions.node} has no compile cache`;
    rows.push(row(`\`guard check --json -- /bin/true\`, 1,000 rules, cold start (empty caches: ${cc})`, `${ms(median(t.cold))}: ${times(pairedRatio(t.cold, t.floor))} the floor`));
    rows.push(row("the same, warm (reference)", `${ms(median(t.warm))}: ${times(pairedRatio(t.warm, t.floor))} the floor (floor ${ms(median(t.floor))})`));
  });

  // --- 10: the first run after a policy edit --------------------------------------------------------
  await scenario("policyedit", "first run after a policy edit", async () => {
    const dir = join(world, "policy-edit");
    await writePolicy(dir, keys, 1000);
    const env = cleanEnv(root, { GUARD_POLICY: dir, GUARD_STORE: `file:${join(root, "store-check")}` });
    const args = [guardBin, "check", "--json", "--", "/bin/true"];
    await runOnce(process.execPath, args, { env, cwd: world, label: "guard check (warm-up)" });
    const first = [];
    const again = [];
    say(`policyedit: ${COLD_ROUNDS} × (edit one of the 10 rule files, guard check, guard check again), 1,000 rules`);
    for (let r = 0; r < COLD_ROUNDS; r++) {
      // A real edit: one rule file gains a line (a comment: the policy means the same, its bytes do not).
      await appendFile(join(dir, `rules-${String(r % 10).padStart(2, "0")}.yaml`), `# edited by the bench, round ${r}\n`);
      first.push((await runOnce(process.execPath, args, { env, cwd: world, label: "guard check (after edit)" })).ms);
      again.push((await runOnce(process.execPath, args, { env, cwd: world, label: "guard check (again)" })).ms);
    }
    rows.push(row("`guard check --json -- /bin/true`, 1,000 rules: the first run after a policy edit", `${ms(median(first))} (the run after it: ${ms(median(again))}; medians of ${COLD_ROUNDS})`));
  });

  // --- 11: peak memory of guard check, warm and cold ------------------------------------------------
  await scenario("checkmem", "peak memory of `guard check`", async () => {
    if (!hasGnuTime()) throw new Error("peak memory needs GNU time (/usr/bin/time)");
    await writePolicy(join(world, "policy-10000"), keys, 10000);
    for (const rules of [1000, 10000]) {
      const env = cleanEnv(root, { GUARD_POLICY: join(world, `policy-${rules}`), GUARD_STORE: `file:${join(root, "store-check")}`, XDG_CACHE_HOME: join(root, `cache-${rules}`) });
      const opts = { cwd: world, label: `guard check (${rules} rules)`, timeoutMs: 600_000 };
      await runOnce(process.execPath, checkArgs, { env, ...opts }); // fills the caches
      const warm = [];
      const cold = [];
      for (let i = 0; i < 3; i++) {
        warm.push((await runWithUsage(process.execPath, checkArgs, { env, ...opts }, root)).rssMb);
        cold.push((await runWithUsage(process.execPath, checkArgs, { env: coldEnv(env), ...opts }, root)).rssMb);
      }
      const [w, c] = [median(warm), median(cold)];
      const what = `peak RSS (VmHWM, GNU time %M) of \`guard check --json -- /bin/true\`, ${rules.toLocaleString("en-US")} rules: warm / cold`;
      if (rules === 1000) rows.push(row(what, `${mb(w)} / ${mb(c)}`, "≤ 60 MB / ≤ 80 MB", "", w <= 60 && c <= 80));
      else rows.push(row(what, `${mb(w)} / ${mb(c)}`));
    }
  });

  if (startupRounds) notes.push(`start-up: medians of ${startupRounds} paired, interleaved rounds (+3 warm-up); ratio = median of per-round ratios to the floor; RSS by GNU time (%M)`);
  notes.push(`total bench time ${((now() - started) / 1000).toFixed(0)} s`);
} catch (err) {
  rows.push(row("bench setup", "", "", "", null, null, err instanceof Error ? err.message : String(err)));
  say(`setup failed: ${err instanceof Error ? err.stack : err}`);
} finally {
  await cleanup();
}

const m = machine();
process.stdout.write(`\n${renderText(rows)}\n\n`);
process.stdout.write(`${renderMarkdown(rows, m, notes.join("; "))}\n`);
for (const r of rows.filter((x) => x.error)) process.stdout.write(`\nERROR in ${r.what}:\n${r.error}\n`);
const bad = failed(rows);
if (bad.length > 0) {
  process.stdout.write(`\nbench: FAILED — ${bad.map((r) => r.what).join("; ")}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write("\nbench: every target met\n");
}
