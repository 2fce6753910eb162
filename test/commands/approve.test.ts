/**
 * `guard request`, `guard approve` and `guard deny` in process, as a table of who decides about a
 * pending request: the exit code, the one audit event each refusal appends with its closed reason code,
 * and the request's status after. Real keys and real signatures (ssh-keygen signs, as for every guard
 * command); the memory store, a fixed clock and no terminal; no guard process is spawned.
 *
 * These carry what test/e2e/refusals.test.ts once checked through the built CLI for "self-approval" and
 * "an ineligible approver (and an ineligible denier)"; it keeps a refused approval of a tampered record.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { approveCommand, denyCommand } from "../../src/commands/approve.js";
import { requestCommand } from "../../src/commands/request.js";
import { showCommand } from "../../src/commands/requests.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";
import { makePerson, type Person } from "../e2e/world.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { auditOf, makeProject, NOW, type Project } from "./project.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
let p: Project;
let eve: Person;
beforeAll(async () => {
  p = await makeProject();
  eve = await makePerson(p.home, "eve"); // a real key the policy does not list
}, 30_000);
afterAll(async () => p?.cleanup());

/** A fresh store holding one pending request of alice's for the purge in production. */
async function pending(): Promise<{ place: MemoryPlace; id: string }> {
  const place = new MemoryPlace();
  const rt = p.runtime({ as: "alice", env: PROD, place });
  expect(await exitCodeOf(rt, () => requestCommand(["./maintenance/purge-lb-state.sh", "--all"], { reason: "INC-7" }, rt)), rt.stderr()).toBe(0);
  const id = rt.stdout().trim();
  expect(id).toMatch(/^r-[a-z2-7]{20}$/);
  return { place, id };
}

interface Row {
  name: string;
  as: string;
  verb: "approve" | "deny";
  opts: { yes?: boolean; reason?: string };
  code: number;
  /** The refusal's reason code (approval.refused), or null when the decision was recorded. */
  refusal: string | null;
  status: string;
}

const rows: Row[] = [
  { name: "an SRE approves", as: "bob", verb: "approve", opts: { yes: true }, code: 0, refusal: null, status: "approved" },
  { name: "an SRE denies, with a reason", as: "bob", verb: "deny", opts: { reason: "not during the incident" }, code: 0, refusal: null, status: "denied" },
  { name: "the requester approves their own request", as: "alice", verb: "approve", opts: { yes: true }, code: 77, refusal: "self-approval", status: "pending" },
  { name: "a developer approves", as: "dave", verb: "approve", opts: { yes: true }, code: 77, refusal: "not-eligible", status: "pending" },
  { name: "a DBA who is no SRE approves", as: "carol", verb: "approve", opts: { yes: true }, code: 77, refusal: "not-eligible", status: "pending" },
  { name: "a developer denies", as: "dave", verb: "deny", opts: { reason: "no" }, code: 77, refusal: "not-eligible", status: "pending" },
  { name: "a key the policy does not list approves", as: "eve", verb: "approve", opts: { yes: true }, code: 77, refusal: "not-principal", status: "pending" },
  { name: "an SRE approves without --yes and without a terminal", as: "bob", verb: "approve", opts: {}, code: 64, refusal: "confirm-missing", status: "pending" },
];

describe("who may decide about a pending request, in process", () => {
  for (const row of rows) it(`${row.name} → ${row.code}`, async () => {
    const { place, id } = await pending();
    const before = (await auditOf(place)).length;
    const env = row.as === "eve" ? { GUARD_KEY: eve.key } : {};
    const rt = p.runtime({ as: row.as === "eve" ? undefined : row.as, env: { ...env, XDG_STATE_HOME: join(p.home, `state-${row.as}-${row.verb}`) }, place });
    const decide = row.verb === "approve" ? () => approveCommand(id, row.opts, rt) : () => denyCommand(id, row.opts, rt);
    expect(await exitCodeOf(rt, decide), rt.stderr()).toBe(row.code);
    const added = (await auditOf(place)).slice(before);
    if (row.refusal === null) {
      expect(added.map((e) => e.type)).toContain("approval.recorded");
      expect(added.find((e) => e.type === "approval.recorded")!.data).toMatchObject({ requestId: id, decision: row.verb });
    } else {
      expect(added).toHaveLength(1);
      expect(added[0]).toMatchObject({ type: "approval.refused", data: { code: row.refusal, requestId: id, decision: row.verb, exitCode: row.code } });
      // Recorded as the one who tried: their principal, or none for a key the policy does not list.
      expect(added[0]!.actor.principal).toBe(row.as === "eve" ? null : row.as);
    }
    const shown = p.runtime({ place });
    expect(await exitCodeOf(shown, () => showCommand(id, { json: true }, shown))).toBe(0);
    expect((JSON.parse(shown.stdout()) as { status: string }).status).toBe(row.status);
  });

  it("deny without --reason and without a terminal is a usage error before anything is read (64), not recorded", async () => {
    const { place, id } = await pending();
    const before = (await auditOf(place)).length;
    const rt = p.runtime({ as: "bob", place });
    expect(await exitCodeOf(rt, () => denyCommand(id, {}, rt))).toBe(64);
    expect(rt.stderr()).toContain("deny needs a reason");
    expect((await auditOf(place)).length).toBe(before);
  });

  it("the request, its approval and the audit events carry the store's clock", async () => {
    const { place, id } = await pending();
    const rt = p.runtime({ as: "bob", place });
    expect(await exitCodeOf(rt, () => approveCommand(id, { yes: true }, rt))).toBe(0);
    const store = openMemoryStore(place);
    expect((await store.getRequest(id))!.request.createdAt).toBe(new Date(NOW).toISOString());
    expect((await store.listApprovals(id))[0]!.statement.createdAt).toBe(new Date(NOW).toISOString());
    for (const e of await auditOf(place)) expect(e.time).toBe(new Date(NOW).toISOString());
  });
});
