/**
 * `guard requests` and `guard show` in process, with hostile text in the store: anyone who can request
 * can write the store (SECURITY T1, T2, H4), so every field a record carries is shown escaped, in every
 * output form, and a damaged record affects only itself. The memory store holds the records; the clock
 * is fixed; no guard process is spawned.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestsCommand, showCommand } from "../../src/commands/requests.js";
import { auditVerifyCommand } from "../../src/commands/audit.js";
import type { SignedRequest } from "../../src/core/types.js";
import { makeApproval, makeRequest, newId } from "../store/fixtures.js";
import { exitCodeOf, type TestRuntime } from "../helpers/runtime.js";
import { makeProject, NOW, type Project } from "./project.js";
import { parseAuthorizedKey } from "../../src/core/sshkey.js";
import { MemoryPlace, openMemoryStore } from "../../src/adapters/store/memory.js";

let p: Project;
beforeAll(async () => {
  p = await makeProject();
}, 30_000);
afterAll(async () => p?.cleanup());

/** Text an attacker would put in a record: a terminal escape, a bidi override, a CI workflow command, a hyperlink. */
const ESC = "\u001b[2J\u001b[31mAPPROVED\u001b[0m";
const BIDI = "\u202ehs.eguo\u202c";
const WORKFLOW = "##[error]forged\n::warning::also forged";
const LINK = "\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007";
const HOSTILE = [ESC, BIDI, WORKFLOW, LINK, "\u0007\u0008\u007f"];

/**
 * A request record with hostile text, created at the fixed clock and open for an hour: in the free-text
 * fields a genuine request may carry (argv, reason, cwd, program path, evidence), or, `everywhere`, also
 * in fields whose shape guard checks (principal, fingerprint, key, environment and rule names).
 */
function hostileRequest(everywhere: boolean): SignedRequest {
  const r = makeRequest(newId(), new Date(NOW - 60_000));
  r.request.expiresAt = new Date(NOW + 3_600_000).toISOString();
  r.request.argv = ["./maintenance/purge-lb-state.sh", ...HOSTILE];
  r.request.reason = HOSTILE.join(" ");
  r.request.cwd = `/srv/${ESC}`;
  r.request.program = { ...r.request.program, path: `/srv/${BIDI}/purge-lb-state.sh` };
  r.request.environment = { ...r.request.environment, evidence: [{ ...r.request.environment.evidence[0]!, value: `postgres://${LINK}`, detail: WORKFLOW }] };
  const alice = parseAuthorizedKey(p.people.alice!.line);
  if (!alice.ok) throw new Error("alice's key does not parse");
  r.request.requester = { principal: "alice", fingerprint: alice.key.fingerprint, key: `${alice.key.type} ${alice.key.blob}` };
  if (everywhere) {
    r.request.requester = { principal: `alice${ESC}`, fingerprint: `SHA256:${LINK}`, key: `ssh-ed25519 ${BIDI}` };
    r.request.environment = { ...r.request.environment, name: `production${ESC}` };
    r.request.rules = [`rule${BIDI}`];
  }
  return r;
}

/** Nothing raw reached the terminal: no control character but newline, no bidi override, no workflow command. */
function expectClean(text: string): void {
  expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/);
  expect(text).not.toContain("##[");
  expect(text).not.toMatch(/^::/m);
}

async function seeded(records: SignedRequest[], plant: Record<string, string> = {}): Promise<{ place: MemoryPlace }> {
  const place = new MemoryPlace();
  const store = openMemoryStore(place, { now: () => NOW });
  for (const r of records) await store.putRequest(r);
  for (const [id, body] of Object.entries(plant)) place.requests.set(id, body);
  return { place };
}

type Invocation = { name: string; run: (rt: TestRuntime, id: string) => Promise<void> };
const invocations: Invocation[] = [
  { name: "requests --all", run: (rt) => requestsCommand({ all: true }, rt) },
  { name: "requests --all --json", run: (rt) => requestsCommand({ all: true, json: true }, rt) },
  { name: "requests (open only)", run: (rt) => requestsCommand({}, rt) },
  { name: "show ID", run: (rt, id) => showCommand(id, {}, rt) },
  { name: "show ID --json", run: (rt, id) => showCommand(id, { json: true }, rt) },
  { name: "show PREFIX", run: (rt, id) => showCommand(id.slice(0, 8), {}, rt) },
];

/** Each invocation on each kind of record: what it exits with. `show` refuses a record of the wrong shape (65). */
const table = invocations.flatMap((inv) => [
  { ...inv, everywhere: false, code: 0 },
  { ...inv, everywhere: true, code: inv.name.startsWith("show") ? 65 : 0 },
]);

describe("hostile store text is escaped in every output", () => {
  it.each(table)("$name, hostile everywhere: $everywhere → exit $code", async ({ run, name, everywhere, code }) => {
    const r = hostileRequest(everywhere);
    const { place } = await seeded([r]);
    const approval = makeApproval(r.request.id, "bob");
    approval.statement.comment = HOSTILE.join(" ");
    await openMemoryStore(place, { now: () => NOW }).putApproval(r.request.id, { ...approval, signature: LINK });
    const rt = p.runtime({ as: "dave", place });
    expect(await exitCodeOf(rt, () => run(rt, r.request.id)), rt.stderr()).toBe(code);
    expectClean(rt.stdout());
    expectClean(rt.stderr());
    if (code !== 0) {
      expect(rt.stdout()).toBe("");
      expect(rt.stderr()).toContain("malformed");
      return;
    }
    // The request is shown (its id) — never as genuine: its signature does not verify.
    if (name !== "requests (open only)") expect(rt.stdout()).toContain(r.request.id);
    if (name.includes("--json")) {
      // JSON keeps the exact values, with only JSON's own escapes (and `##[` written as `##\u005b`).
      const parsed = JSON.parse(rt.stdout()) as { argv?: string[]; requests?: Array<{ argv: string[] }> };
      expect(parsed.argv ?? parsed.requests![0]!.argv).toEqual(r.request.argv);
    } else if (name.startsWith("show")) {
      expect(rt.stdout()).toContain("\\x1b[2J");
      expect(rt.stdout()).toContain("\\u202e");
    }
  });
});

describe("H4: a damaged record affects only itself", () => {
  const bodies: Array<[string, string]> = [
    ["junk", "this is not JSON \u001b[2J"],
    ["nested far too deep", `{"request":${"[".repeat(100_000)}${"]".repeat(100_000)}}`],
    ["not a request", `{"request":{"v":1,"id":"x${ESC}"}}`],
  ];
  it.each(bodies)("requests --all: %s is listed as damaged on stderr, escaped; the good request is still listed", async (_n, body) => {
    const good = makeRequest(newId(), new Date(NOW - 1000));
    good.request.expiresAt = new Date(NOW + 3_600_000).toISOString();
    const bad = newId();
    const { place } = await seeded([good], { [bad]: body });
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => requestsCommand({ all: true }, rt))).toBe(0);
    expect(rt.stdout()).toContain(good.request.id);
    expect(rt.stderr()).toContain(`damaged record skipped: memory:requests/${bad}`);
    expectClean(rt.stdout());
    expectClean(rt.stderr());
  });

  it.each(bodies)("requests --all --json: %s is in `damaged`, the good request in `requests`", async (_n, body) => {
    const good = makeRequest(newId(), new Date(NOW - 1000));
    const bad = newId();
    const { place } = await seeded([good], { [bad]: body });
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => requestsCommand({ all: true, json: true }, rt))).toBe(0);
    const out = JSON.parse(rt.stdout()) as { requests: Array<{ id: string }>; damaged: Array<{ id: string; where: string; problem: string }> };
    expect(out.requests.map((x) => x.id)).toEqual([good.request.id]);
    expect(out.damaged.map((d) => d.id)).toEqual([bad]);
  });

  it.each(bodies)("show of %s is an integrity failure (65), escaped", async (_n, body) => {
    const bad = newId();
    const { place } = await seeded([], { [bad]: body });
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => showCommand(bad, {}, rt))).toBe(65);
    expect(rt.stdout()).toBe("");
    expectClean(rt.stderr());
  });
});

describe("S26: a field the store does not check holds another JSON value (a store writer's edit)", () => {
  // Found by test/e2e/run-hostile-postgres.test.ts: the requester's principal edited into {"": null}
  // made `guard requests --all` fail with an internal error (70, "s is not iterable").
  const edited: Array<[string, (r: Record<string, unknown> & { requester: Record<string, unknown>; environment: Record<string, unknown> }) => void]> = [
    ["the principal an object", (r) => void (r.requester.principal = { "": null })],
    ["the principal a number", (r) => void (r.requester.principal = 7)],
    ["no principal, and a fingerprint with terminal escapes", (r) => void Object.assign(r.requester, { principal: null, fingerprint: `SHA256:${ESC}` })],
    ["no principal, and a fingerprint that is a list", (r) => void Object.assign(r.requester, { principal: null, fingerprint: [ESC] })],
    ["the environment's name a number", (r) => void (r.environment.name = 5)],
    ["the environment's name missing", (r) => void delete r.environment.name],
    ["the reason an object", (r) => void (r.reason = { text: ESC })],
  ];
  it.each(edited)("%s: requests --all lists it, escaped, without and with a terminal; show refuses it (65)", async (_n, edit) => {
    const good = makeRequest(newId(), new Date(NOW - 1000));
    const bad = makeRequest(newId(), new Date(NOW - 2000));
    edit(bad.request as unknown as Parameters<typeof edit>[0]);
    const { place } = await seeded([good], { [bad.request.id]: JSON.stringify(bad) });
    for (const tty of [false, true]) {
      const rt = p.runtime({ place });
      rt.terminal.stdout().isTTY = tty;
      expect(await exitCodeOf(rt, () => requestsCommand({ all: true }, rt)), rt.stderr()).toBe(0);
      expect(rt.stdout()).toContain(good.request.id);
      expect(rt.stdout()).toContain(bad.request.id);
      if (tty) expect(rt.stdout()).toContain("REQUESTER"); // (the table)
      expectClean(rt.stdout());
      expectClean(rt.stderr());
    }
    const show = p.runtime({ place });
    expect(await exitCodeOf(show, () => showCommand(bad.request.id, {}, show))).toBe(65);
    expectClean(show.stderr());
  });
});

describe("--review reads the break-glass index, a hint (issue 18, S19)", () => {
  const glass = (): SignedRequest => {
    const r = makeRequest(newId(), new Date(NOW - 60_000));
    r.request.breakGlass = true;
    r.request.requirements = [];
    return r;
  };

  it("lists the unreviewed break-glass runs only: a planted entry naming a normal request and odd entries are passed over, and history is not read", async () => {
    const bg = glass();
    const normal = makeRequest(newId(), new Date(NOW - 1000));
    const junk = newId();
    const { place } = await seeded([bg, normal], { [junk]: "junk history \u001b[2J" });
    for (const entry of [normal.request.id, newId(), "../../etc/passwd", `r-${ESC}`]) place.breakGlass.add(entry);
    const rt = p.runtime({ as: "bob", place });
    expect(await exitCodeOf(rt, () => requestsCommand({ review: true, json: true }, rt)), rt.stderr()).toBe(0);
    const out = JSON.parse(rt.stdout()) as { requests: Array<{ id: string; breakGlass: boolean }>; damaged: unknown[] };
    expect(out.requests.map((x) => [x.id, x.breakGlass])).toEqual([[bg.request.id, true]]);
    // The damaged record in history was never read (--all reads it, and reports it).
    expect(out.damaged).toEqual([]);
    const all = p.runtime({ place });
    expect(await exitCodeOf(all, () => requestsCommand({ all: true, json: true }, all))).toBe(0);
    expect((JSON.parse(all.stdout()) as { damaged: Array<{ id: string }> }).damaged.map((d) => d.id)).toEqual([junk]);
  });

  it("a removed entry hides the run from --review, as removing the request would; `audit verify` names it (65)", async () => {
    const bg = glass();
    const { place } = await seeded([bg]);
    const missing = `request ${bg.request.id} is a break-glass run missing from the store's break-glass index`;
    const verify = async (): Promise<{ code: number; problems: string[] }> => {
      const rt = p.runtime({ place });
      const code = await exitCodeOf(rt, () => auditVerifyCommand({ json: true }, rt));
      return { code, problems: (JSON.parse(rt.stdout()) as { problems: string[] }).problems };
    };
    expect((await verify()).problems.filter((x) => x.includes("break-glass index"))).toEqual([]);
    place.breakGlass.delete(bg.request.id);
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => requestsCommand({ review: true }, rt))).toBe(0);
    expect(rt.stdout()).toContain("no break-glass runs await review");
    const after = await verify();
    expect(after.code).toBe(65);
    expect(after.problems.filter((x) => x.includes("break-glass index"))).toEqual([expect.stringContaining(missing)]);
  });
});

describe("show: ids", () => {
  const table: Array<[string, string, number, RegExp]> = [
    ["not an id", "../../etc/passwd", 64, /is not a request id/],
    ["an id the store does not hold", "r-aaaaaaaaaaaaaaaaaaaa", 64, /no request r-aaaaaaaaaaaaaaaaaaaa/],
    ["a hostile non-id", `r-${ESC}`, 64, /is not a request id/],
  ];
  it.each(table)("%s: exit %s", async (_n, id, code, message) => {
    const { place } = await seeded([]);
    const rt = p.runtime({ place });
    expect(await exitCodeOf(rt, () => showCommand(id, {}, rt))).toBe(code);
    expect(rt.stderr()).toMatch(message);
    expectClean(rt.stderr());
  });
});

describe("guard requests over many requests", () => {
  it("--all --json lists every one of 600, newest first, and at a terminal a quick listing draws no progress line", async () => {
    const records = Array.from({ length: 600 }, (_, i) => makeRequest(newId(), new Date(NOW - (i + 1) * 1000)));
    const { place } = await seeded(records);
    const rt = p.runtime({ place });
    rt.terminal.stderr().isTTY = true;
    expect(await exitCodeOf(rt, () => requestsCommand({ all: true, json: true }, rt))).toBe(0);
    const out = JSON.parse(rt.stdout()) as { requests: Array<{ id: string }>; damaged: unknown[] };
    expect(out.requests.map((x) => x.id)).toEqual(records.map((r) => r.request.id));
    expect(out.damaged).toEqual([]);
    expect(rt.stderr()).toBe("");
  });
});
