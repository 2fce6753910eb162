import { chainEvent } from "../../src/core/audit.js";
import { auditTypeFilter, type AuditFilter } from "../../src/core/audit-types.js";
import { canonicalJson } from "../../src/core/canonical.js";
import type { AuditEvent } from "../../src/core/types.js";
import { newId } from "../store/fixtures.js";
import { sql } from "./pg.js";

/** Audit logs and filters for the tests of `guard audit log` through indexes (issue 18). */

export const REQUESTS = [newId(), newId(), newId(), newId()];
const TYPES = ["request.created", "approval.recorded", "approval.refused", "run.started", "run.finished", "policy.error", "approval.forged"];
const PEOPLE = ["alice", "bob", "carol"];
export const T0 = Date.parse("2026-03-01T00:00:00.000Z");

/** A deterministic pseudo-random source (the same log on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * `n` chained events, each ~1 KB (or `pad` characters of padding and some 300 bytes more), one a second,
 * with the clock jumping back now and then (not in the last 300).
 */
export function makeLog(n: number, seed = 7, pad = 900): AuditEvent[] {
  const r = rng(seed);
  const out: AuditEvent[] = [];
  let t = T0;
  for (let i = 0; i < n; i++) {
    t += i < n - 300 && r() < 0.005 ? -120_000 : 1000; // back two minutes, now and then
    const who = PEOPLE[Math.floor(r() * PEOPLE.length)]!;
    const data: Record<string, unknown> = { pad: "x".repeat(pad), n: i };
    const k = r();
    if (k < 0.6) data.requestId = REQUESTS[Math.floor(r() * REQUESTS.length)];
    else if (k < 0.65) data.requestId = 7;
    const actor = { principal: r() < 0.8 ? who : null, fingerprint: `SHA256:${who}`, user: who };
    const prev = out[out.length - 1];
    out.push(chainEvent(prev ? { seq: prev.seq, hash: prev.hash } : null, { type: TYPES[Math.floor(r() * TYPES.length)]!, actor, data }, new Date(t).toISOString()));
  }
  return out;
}

/** Random filters over the log's own values, and some that match nothing. */
export function filters(log: AuditEvent[], count: number, seed = 11): AuditFilter[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const out: AuditFilter[] = [{}, { sinceMs: 0 }, { sinceMs: 1e15 }];
  for (let i = 0; i < count; i++) {
    const f: AuditFilter = {};
    if (r() < 0.7) {
      const at = Date.parse(pick(log).time);
      f.sinceMs = at + pick([-1, 0, 1, 0.5]);
    }
    if (r() < 0.3) {
      const t = auditTypeFilter(pick(["approval", "run.", "request.created", "policy.error", "run.finished"]));
      if (t.ok) f.type = { prefix: t.prefix, family: t.family };
    }
    if (r() < 0.3) f.requestId = pick([...REQUESTS, newId(), "7"]);
    if (r() < 0.2) f.actor = pick([...PEOPLE, "SHA256:bob", "nobody"]);
    out.push(f);
  }
  return out;
}

export const lines = (events: AuditEvent[]): string => events.map((e) => `${canonicalJson(e)}\n`).join("");

/**
 * Audit rows inserted as the owner inserts them, a thousand a statement, into `schema` of the database at
 * `dbUrl` (the CHECK of migration 2 holds them to guard's format).
 */
export async function insertAuditRows(dbUrl: string, schema: string, events: readonly AuditEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const chunk = events.slice(i, i + 1000);
    await sql(
      dbUrl,
      `INSERT INTO ${schema}.guard_audit (seq, hash, body, time) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])`,
      [chunk.map((e) => e.seq), chunk.map((e) => e.hash), chunk.map((e) => canonicalJson(e)), chunk.map((e) => new Date(Date.parse(e.time)).toISOString())],
    );
  }
}
