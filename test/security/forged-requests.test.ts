/**
 * R1–R4: one person cannot defeat the two-person rule by writing the store. The attacker is a requester
 * who re-signs edited copies of their own genuine request with their own key (test/helpers/forge-request)
 * and plants approvals — on the file store and on PostgreSQL. Whatever the copy claims, the current
 * policy's derivation decides: nothing runs, nothing is consumed.
 *
 * The calls run guard's command line in the test process (guardIn): the same arguments, environment,
 * keys and store (file or PostgreSQL, by the world's GUARD_STORE), without a Node process each. On each
 * store the built CLI still runs R1's refused run of the forged fast-track copy: a real guard process
 * refusing a forgery end to end.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { guard, makeWorld, requestIdIn, standardPolicy, type Person, type World } from "../e2e/world.js";
import { createTestDatabase } from "../helpers/pg.js";
import { guardIn } from "../helpers/in-process.js";
import { consumed, forgeRequest, plantApproval } from "../helpers/forge-request.js";
import { parseAuthorizedKey } from "../../src/core/sshkey.js";
import type { GuardRequest } from "../../src/core/types.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };

/** The standard policy plus a second rule: purging every region needs a DBA as well as an SRE. */
function twoRulePolicy(people: Record<string, Person>): string {
  return standardPolicy(people).replace(
    "  - name: reports-are-read-only",
    `  - name: all-regions-needs-a-dba
    match: { environments: [production], commands: ["maintenance/purge-*.sh"], args: ["--all-regions"] }
    require: { approvals: 1, from: [dba], reason: true, ttl: 30m }
  - name: reports-are-read-only`,
  );
}

const fingerprintOf = (p: Person): string => {
  const parsed = parseAuthorizedKey(p.line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.key.fingerprint;
};

const fastTrack = (r: GuardRequest): void => {
  r.rules = ["fast-track"];
  r.requirements = [{ rule: "fast-track", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 7 * 24 * 3600 }];
  r.expiresAt = new Date(Date.parse(r.createdAt) + 7 * 24 * 3600_000).toISOString();
};

for (const kind of ["file", "postgres"] as const) {
  describe(`forged requests (${kind} store)`, () => {
    let w: World;
    let db: { url: string; drop(): Promise<void> } | null = null;
    let n = 0;
    beforeAll(async () => {
      w = await makeWorld({ policy: twoRulePolicy });
      if (kind === "postgres") {
        db = await createTestDatabase();
        w.env.GUARD_STORE = db.url;
      }
    });
    afterAll(async () => {
      await w.cleanup();
      await db?.drop();
    });
    const storeUrl = (): string => w.env.GUARD_STORE!;

    /** alice's genuine request for a purge (with `extra` arguments), pending. */
    async function genuine(extra: string[] = []): Promise<{ id: string; argv: string[] }> {
      const argv = ["./maintenance/purge-lb-state.sh", `--ticket=forge-${kind}-${++n}`, ...extra];
      const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "stale state", "--", ...argv], { env: PROD, as: "alice" });
      expect(r.code, r.stderr).toBe(75);
      return { id: requestIdIn(r.stderr), argv };
    }

    const forge = (id: string, edit: (r: GuardRequest) => void) => forgeRequest({ store: storeUrl(), key: w.people.alice!.key }, id, edit);

    it("R1: a copy re-signed with a made-up 'fast-track' rule (one approval from anyone, 7 days) never runs", async () => {
      const { id, argv } = await genuine();
      // Dated a second later than the genuine one: the newest record for this exact run.
      const forged = await forge(id, (r) => {
        r.createdAt = new Date(Date.parse(r.createdAt) + 1000).toISOString();
        fastTrack(r);
      });
      // dave is a developer, not an SRE: guard refuses to record his approval of the forgery.
      const approve = await guardIn(w, ["approve", forged.request.id, "--yes"], { as: "dave" });
      expect(approve.code, approve.stderr).toBe(65);
      expect(approve.stderr).toMatch(/forged or edited after signing/);
      // He plants one anyway, signed with his own key.
      await plantApproval(storeUrl(), forged, "dave", fingerprintOf(w.people.dave!), w.people.dave!.key);
      const show = JSON.parse((await guardIn(w, ["show", forged.request.id, "--json"], { as: "alice" })).stdout);
      expect(show.status).not.toBe("approved");
      // Through the built CLI: a real guard process, on this store, refuses the forgery.
      const run = await guard(w, ["run", "--request", forged.request.id, "--confirm", "production"], { env: PROD, as: "alice" });
      expect(run.code, run.stderr).toBe(65);
      expect(run.stdout).not.toMatch(/purged/);
      expect(await consumed(storeUrl(), forged.request.id)).toBe(false);
      // The same command does not pick the forgery up either; it finds the genuine, still pending request.
      const again = await guardIn(w, ["run", "--confirm", "production", "--", ...argv], { env: PROD, as: "alice" });
      expect(again.code, again.stderr).toBe(75);
      expect(again.stdout).not.toMatch(/purged/);
      expect(again.stderr).toMatch(new RegExp(`passing over request ${forged.request.id}`));
      expect(requestIdIn(again.stderr.replace(/.*passing over.*\n/, ""))).toBe(id);
    });

    it("R1: dropping one rule of a two-rule run (DBA and SRE) leaves both required", async () => {
      const { id } = await genuine(["--all-regions"]);
      const forged = await forge(id, (r) => {
        r.rules = r.rules.filter((x) => x !== "all-regions-needs-a-dba");
        r.requirements = r.requirements.filter((x) => x.rule !== "all-regions-needs-a-dba");
      });
      expect((await guardIn(w, ["approve", forged.request.id, "--yes"], { as: "bob" })).code).toBe(65);
      await plantApproval(storeUrl(), forged, "bob", fingerprintOf(w.people.bob!), w.people.bob!.key);
      const run = await guardIn(w, ["run", "--request", forged.request.id, "--confirm", "production"], { env: PROD, as: "alice" });
      expect(run.code, run.stderr).toBe(65);
      expect(run.stdout).toBe("");
      expect(await consumed(storeUrl(), forged.request.id)).toBe(false);
      // The genuine request still needs both: an SRE alone leaves it pending.
      await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
      const genuineShow = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "alice" })).stdout);
      expect(genuineShow.status).toBe("approved"); // bob is SRE and DBA: one person may meet both
      await guardIn(w, ["deny", id, "--reason", "test over"], { as: "alice" });
    });

    it("R2: a copy flagged break-glass with no rules or requirements runs nothing, in CI, without a terminal", async () => {
      const { id } = await genuine();
      const forged = await forge(id, (r) => {
        r.breakGlass = true;
        r.rules = [];
        r.requirements = [];
      });
      const run = await guardIn(w, ["run", "--request", forged.request.id, "--confirm", "production"], { env: { ...PROD, CI: "true" }, as: "alice" });
      expect([65, 77]).toContain(run.code);
      expect(run.stdout).toBe("");
      expect(await consumed(storeUrl(), forged.request.id)).toBe(false);
      const log = (await guardIn(w, ["audit", "log", "--json"], { as: "alice" })).stdout;
      expect(log).not.toMatch(new RegExp(`breakglass\\.used.*${forged.request.id}`));
    });

    it("SW2: a copy that only claims breakGlass (its rules kept), acknowledged and approved by an SRE, never runs: `run --request` refuses it (77), in CI and not; the same command is still a new request", async () => {
      const { id, argv } = await genuine();
      // The claims a policy derives are untouched, so the copy is a valid record: one of a break-glass run.
      const forged = await forge(id, (r) => {
        r.createdAt = new Date(Date.parse(r.createdAt) + 1000).toISOString();
        r.breakGlass = true;
      });
      // bob's guard records an acknowledgement of a break-glass run, never an approval …
      const ack = await guardIn(w, ["approve", forged.request.id, "--yes"], { as: "bob" });
      expect(ack.code, ack.stderr).toBe(0);
      expect(ack.stderr).toMatch(/acknowledged/);
      // … so the requester plants an approval signed by bob's real key as well.
      await plantApproval(storeUrl(), forged, "bob", fingerprintOf(w.people.bob!), w.people.bob!.key);
      const show = JSON.parse((await guardIn(w, ["show", forged.request.id, "--json"], { as: "alice" })).stdout);
      expect(show.status).not.toBe("approved");
      for (const env of [PROD, { ...PROD, CI: "true", GITHUB_ACTIONS: "true" }]) {
        const run = await guardIn(w, ["run", "--request", forged.request.id, "--confirm", "production"], { env, as: "alice" });
        expect(run.code, run.stderr).toBe(77);
        expect(run.stderr).toMatch(/records a break-glass run: it ran when it was made and never runs again/);
        expect(run.stdout).not.toMatch(/purged/);
      }
      expect(await consumed(storeUrl(), forged.request.id)).toBe(false);
      // The same command, plain: no approval counts for it, nothing runs.
      const again = await guardIn(w, ["run", "--confirm", "production", "--", ...argv], { env: { ...PROD, CI: "true" }, as: "alice" });
      expect(again.code, again.stderr).toBe(75);
      expect(again.stdout).not.toMatch(/purged/);
      expect(await consumed(storeUrl(), forged.request.id)).toBe(false);
      expect(await consumed(storeUrl(), id)).toBe(false);
    });

    it("R1: a copy that claims the run is unprotected is refused", async () => {
      const { id } = await genuine();
      const forged = await forge(id, (r) => {
        r.environment.protected = false;
      });
      await plantApproval(storeUrl(), forged, "bob", fingerprintOf(w.people.bob!), w.people.bob!.key);
      const run = await guardIn(w, ["run", "--request", forged.request.id, "--confirm", "production"], { env: PROD, as: "alice" });
      expect(run.code, run.stderr).toBe(65);
      expect(run.stdout).toBe("");
    });

    it("R3: a policy edit voids open requests: listed as void, approvals refused, the run refused", async () => {
      const { id } = await genuine();
      const policyFile = `${w.env.GUARD_POLICY}/guard.yaml`;
      const before = await readFile(policyFile, "utf8");
      const { writeFile } = await import("node:fs/promises");
      await writeFile(policyFile, before.replace("ttl: 30m }\n  - name: all-regions", "ttl: 20m }\n  - name: all-regions"));
      try {
        const show = JSON.parse((await guardIn(w, ["show", id, "--json"], { as: "bob" })).stdout);
        expect(show.status).toBe("void");
        const approve = await guardIn(w, ["approve", id, "--yes"], { as: "bob" });
        expect(approve.code).toBe(77);
        const run = await guardIn(w, ["run", "--request", id, "--confirm", "production"], { env: PROD, as: "alice" });
        expect(run.code, run.stderr).toBe(77);
        expect(run.stdout).toBe("");
      } finally {
        await writeFile(policyFile, before);
      }
    });
  });
}
