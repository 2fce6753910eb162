import { describe, expect, it } from "vitest";
import { GuardError } from "../../src/core/errors.js";
import {
  validateApprovalShape,
  validateConsumptionShape,
  validateRequestShape,
  validateSignedRequestShape,
} from "../../src/core/request.js";

const FP = "SHA256:" + "A".repeat(43);
const HEX = (c: string): string => c.repeat(64);

const goodRequest = () => ({
  v: 1,
  id: "r-aaaaaaaaaaaaaaaaaaaa",
  requester: { principal: "alice", fingerprint: FP, key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==" },
  argv: ["scripts/purge.sh", "--all"],
  program: { path: "/repo/scripts/purge.sh", sha256: HEX("a") },
  cwd: "/repo",
  environment: {
    name: "production",
    protected: true,
    evidence: [{ source: "env", subject: "DATABASE_URL", value: "postgres://prod-db/x", environment: "production", detail: "d" }],
  },
  env: { PATH: { sha256: HEX("b"), shown: "/usr/bin" }, NODE_OPTIONS: { sha256: null, shown: null } },
  stdin: { kind: "tty" },
  reason: "INC-1",
  policyDigest: HEX("c"),
  rules: ["purge"],
  requirements: [{ rule: "purge", approvals: 1, from: ["sre"], reason: true, confirm: false, ttlSeconds: 1800 }],
  breakGlass: false,
  createdAt: "2026-03-01T10:00:00.000Z",
  expiresAt: "2026-03-01T10:30:00.000Z",
  nonce: "0".repeat(32),
});

type Mutable = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function expectMalformed(fn: () => unknown, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(GuardError);
  expect((caught as GuardError).exitCode).toBe(65);
  expect((caught as GuardError).message).toBe(message);
}

describe("validateRequestShape", () => {
  it("accepts a well-formed request, unchanged", () => {
    const r = goodRequest();
    expect(validateRequestShape(r)).toBe(r);
    expect(validateRequestShape(JSON.parse(JSON.stringify(r)))).toEqual(r);
  });

  it("issue 19: accepts a program reached through links (program.via)", () => {
    const r: Mutable = goodRequest();
    r.program.via = { path: "/usr/bin/psql", links: [{ path: "/usr/bin/psql", target: "../share/postgresql-common/pg_wrapper" }] };
    expect(validateRequestShape(r)).toBe(r);
  });

  it("accepts an unregistered requester and a null reason and `from`", () => {
    const r: Mutable = goodRequest();
    r.requester.principal = null;
    r.reason = null;
    r.requirements[0].from = null;
    expect(() => validateRequestShape(r)).not.toThrow();
  });

  it("E15: accepts a variable bound by name and digest only (its value not shown)", () => {
    const r: Mutable = goodRequest();
    r.env.USER = { sha256: HEX("c"), shown: null };
    expect(() => validateRequestShape(r)).not.toThrow();
  });

  it.each<[string, (r: Mutable) => void, string]>([
    ["S1: an extra top-level field", (r) => (r.approved = true), "approved"],
    ["S1: an extra nested field", (r) => (r.program.hash = "x"), "program.hash"],
    ["S2: a missing field", (r) => delete r.nonce, "nonce"],
    ["S2: a missing nested field", (r) => delete r.requester.key, "requester.key"],
    ["a newer version", (r) => (r.v = 2), "v"],
    ["S5: a path-like id", (r) => (r.id = "../../policy"), "id"],
    ["argv not an array", (r) => (r.argv = "scripts/purge.sh --all"), "argv"],
    ["argv with a number", (r) => (r.argv[1] = 1), "argv[1]"],
    ["empty argv", (r) => (r.argv = []), "argv"],
    ["program hash not hex", (r) => (r.program.sha256 = HEX("A")), "program.sha256"],
    ["empty cwd", (r) => (r.cwd = ""), "cwd"],
    ["protected as a string", (r) => (r.environment.protected = "true"), "environment.protected"],
    ["unknown evidence source", (r) => (r.environment.evidence[0].source = "guess"), "environment.evidence[0].source"],
    ["evidence environment a number", (r) => (r.environment.evidence[0].environment = 1), "environment.evidence[0].environment"],
    ["bound variable shown without a digest", (r) => (r.env.NODE_OPTIONS.shown = "x"), "env.NODE_OPTIONS.shown"],
    ["bound variable digest not hex", (r) => (r.env.PATH.sha256 = "zz"), "env.PATH.sha256"],
    ["bound variable with an extra field", (r) => (r.env.PATH.value = "/usr/bin"), "env.PATH.value"],
    ["bound variable name with =", (r) => (r.env["A=B"] = { sha256: null, shown: null }), "env.A=B"],
    ["stdin of another kind", (r) => (r.stdin.kind = "pipe"), "stdin.kind"],
    ["reason a number", (r) => (r.reason = 5), "reason"],
    ["P6: approvals 0", (r) => (r.requirements[0].approvals = 0), "requirements[0].approvals"],
    ["P6: approvals -1", (r) => (r.requirements[0].approvals = -1), "requirements[0].approvals"],
    ["P6: approvals 2.5", (r) => (r.requirements[0].approvals = 2.5), "requirements[0].approvals"],
    ["P6: approvals \"2\"", (r) => (r.requirements[0].approvals = "2"), "requirements[0].approvals"],
    ["ttl 0", (r) => (r.requirements[0].ttlSeconds = 0), "requirements[0].ttlSeconds"],
    ["from not a list", (r) => (r.requirements[0].from = "sre"), "requirements[0].from"],
    ["breakGlass as 1", (r) => (r.breakGlass = 1), "breakGlass"],
    ["createdAt not ISO", (r) => (r.createdAt = "yesterday"), "createdAt"],
    ["createdAt impossible date", (r) => (r.createdAt = "2026-02-30T10:00:00.000Z"), "createdAt"],
    ["createdAt with offset", (r) => (r.createdAt = "2026-03-01T10:00:00.000+01:00"), "createdAt"],
    ["expiry not after creation", (r) => (r.expiresAt = r.createdAt), "expiresAt"],
    ["short nonce", (r) => (r.nonce = "00"), "nonce"],
    ["fingerprint of another form", (r) => (r.requester.fingerprint = "MD5:aa"), "requester.fingerprint"],
    ["T1: a hostile extra field name is escaped", (r) => (r["\x1b[2J"] = 1), "\\x1b[2J"],
    ["issue 19: program.via null (absent is the form without links)", (r) => (r.program.via = null), "program.via"],
    ["issue 19: program.via without links", (r) => (r.program.via = { path: "/usr/bin/psql", links: [] }), "program.via.links"],
    ["issue 19: a link with an empty target", (r) => (r.program.via = { path: "/usr/bin/psql", links: [{ path: "/usr/bin/psql", target: "" }] }), "program.via.links[0].target"],
    ["issue 19: a link with an extra field", (r) => (r.program.via = { path: "/usr/bin/psql", links: [{ path: "/usr/bin/psql", target: "x", uid: 0 }] }), "program.via.links[0].uid"],
    ["issue 19: via with an extra field", (r) => (r.program.via = { path: "/usr/bin/psql", links: [{ path: "/usr/bin/psql", target: "x" }], real: "x" }), "program.via.real"],
  ])("%s", (_name, mutate, field) => {
    const r: Mutable = goodRequest();
    mutate(r);
    expectMalformed(() => validateRequestShape(r), `request record is malformed: ${field}`);
  });

  it.each([
    ["S2: null", null],
    ["S2: empty object", {}],
    ["S2: an array", []],
    ["S2: a string", "{"],
  ])("%s is malformed", (_name, x) => {
    expect(() => validateRequestShape(x)).toThrow(/request record is malformed/);
  });

  it("P4: a __proto__ key from JSON.parse is an extra field, never a prototype", () => {
    const r = JSON.parse(JSON.stringify(goodRequest()).replace('"v":1', '"__proto__":{"x":1},"v":1')) as unknown;
    expectMalformed(() => validateRequestShape(r), "request record is malformed: __proto__");
  });

  // Names read from a record must be policy names (`[a-z0-9][a-z0-9_-]*`, at most 64): anything else
  // could never have come from a policy, so the record is malformed (65) rather than shown.
  const HOSTILE_NAMES: [string, string][] = [
    ["a screen-clearing sequence", "\x1b[2J\x1b[Hreport"],
    ["an OSC 8 hyperlink", "\x1b]8;;https://evil\x1b\\sre\x1b]8;;\x1b\\"],
    ["a bidi override", "sre\u202eab"],
    ["a zero-width space", "s\u200bre"],
    ["a Cyrillic look-alike", "sr\u0435"],
    ["a workflow command", "::error::x"],
    ["a legacy workflow command", "##[error]x"],
    ["a Slack broadcast", "<!channel>"],
    ["upper case", "SRE"],
    ["a space", "sre team"],
    ["a leading dash", "-sre"],
    ["empty", ""],
    ["65 characters", "a".repeat(65)],
  ];
  const NAME_FIELDS: [string, (r: Mutable, v: string) => void][] = [
    ["requester.principal", (r, v) => (r.requester.principal = v)],
    ["environment.name", (r, v) => (r.environment.name = v)],
    ["environment.evidence[0].environment", (r, v) => (r.environment.evidence[0].environment = v)],
    ["rules[0]", (r, v) => (r.rules[0] = v)],
    ["requirements[0].rule", (r, v) => (r.requirements[0].rule = v)],
    ["requirements[0].from[0]", (r, v) => (r.requirements[0].from[0] = v)],
  ];
  it.each(NAME_FIELDS.flatMap(([field, set]) => HOSTILE_NAMES.map(([what, v]) => [field, what, set, v] as const)))(
    "T1/E2: %s holding %s is malformed",
    (field, _what, set, value) => {
      const r: Mutable = goodRequest();
      set(r, value);
      expectMalformed(() => validateRequestShape(r), `request record is malformed: ${field}`);
    },
  );

  it("policy names at the edges of the syntax are accepted", () => {
    const r: Mutable = goodRequest();
    r.requester.principal = "a";
    r.rules = ["0-rule_x", "z".repeat(64)];
    r.requirements[0].from = ["sre_oncall", "db-a"];
    expect(() => validateRequestShape(r)).not.toThrow();
  });

  it("a signed request needs a signature", () => {
    expect(() => validateSignedRequestShape({ request: goodRequest(), signature: "-----BEGIN SSH SIGNATURE-----" })).not.toThrow();
    expectMalformed(() => validateSignedRequestShape({ request: goodRequest(), signature: "" }), "request record is malformed: signature");
    expectMalformed(() => validateSignedRequestShape({ request: { ...goodRequest(), v: 3 }, signature: "s" }), "request record is malformed: request.v");
  });
});

const goodApproval = () => ({
  statement: {
    v: 1,
    requestId: "r-aaaaaaaaaaaaaaaaaaaa",
    requestDigest: HEX("d"),
    decision: "approve",
    principal: "bob",
    fingerprint: FP,
    comment: null,
    createdAt: "2026-03-01T10:05:00.000Z",
    nonce: "1".repeat(32),
  },
  signature: "-----BEGIN SSH SIGNATURE-----",
});

describe("validateApprovalShape", () => {
  it("accepts approve, deny and acknowledge", () => {
    for (const decision of ["approve", "deny", "acknowledge"]) {
      const a: Mutable = goodApproval();
      a.statement.decision = decision;
      expect(() => validateApprovalShape(a)).not.toThrow();
    }
  });

  it.each<[string, (a: Mutable) => void, string]>([
    ["an unknown decision", (a) => (a.statement.decision = "approve-all"), "statement.decision"],
    ["S5: a path-like request id", (a) => (a.statement.requestId = "../x"), "statement.requestId"],
    ["a digest not hex", (a) => (a.statement.requestDigest = "x"), "statement.requestDigest"],
    ["an empty principal", (a) => (a.statement.principal = ""), "statement.principal"],
    ["T1: a principal with a screen-clearing sequence", (a) => (a.statement.principal = "\x1b[2Jbob"), "statement.principal"],
    ["T2: a principal with a bidi override", (a) => (a.statement.principal = "bo\u202eb"), "statement.principal"],
    ["E2: a principal with a Cyrillic look-alike", (a) => (a.statement.principal = "b\u043eb"), "statement.principal"],
    ["a principal that is a workflow command", (a) => (a.statement.principal = "::error::x"), "statement.principal"],
    ["a comment that is a number", (a) => (a.statement.comment = 1), "statement.comment"],
    ["A10: a createdAt that is not a time", (a) => (a.statement.createdAt = "9999"), "statement.createdAt"],
    ["an extra field", (a) => (a.statement.expiresAt = "2099-01-01T00:00:00.000Z"), "statement.expiresAt"],
    ["no signature", (a) => delete a.signature, "signature"],
    ["a newer version", (a) => (a.statement.v = 2), "statement.v"],
  ])("%s", (_name, mutate, field) => {
    const a: Mutable = goodApproval();
    mutate(a);
    expectMalformed(() => validateApprovalShape(a), `approval record is malformed: ${field}`);
  });
});

const goodConsumption = () => ({
  requestId: "r-aaaaaaaaaaaaaaaaaaaa",
  requestDigest: HEX("d"),
  consumedAt: "2026-03-01T10:06:00.000Z",
  by: { principal: "alice", fingerprint: FP },
  host: "bastion1",
  pid: 4242,
});

describe("validateConsumptionShape", () => {
  it("accepts a well-formed record", () => {
    expect(() => validateConsumptionShape(goodConsumption())).not.toThrow();
  });

  it.each<[string, (c: Mutable) => void, string]>([
    ["S2: a missing time", (c) => delete c.consumedAt, "consumedAt"],
    ["a negative pid", (c) => (c.pid = -1), "pid"],
    ["a bad request id", (c) => (c.requestId = "r-/"), "requestId"],
    ["an extra field", (c) => (c.undone = true), "undone"],
    ["a bad fingerprint", (c) => (c.by.fingerprint = ""), "by.fingerprint"],
    ["T1: a principal with a screen-clearing sequence", (c) => (c.by.principal = "\x1b[2Jalice"), "by.principal"],
  ])("%s", (_name, mutate, field) => {
    const c: Mutable = goodConsumption();
    mutate(c);
    expectMalformed(() => validateConsumptionShape(c), `consumption record is malformed: ${field}`);
  });
});
