/**
 * SECURITY-CASES "Policy parsing" P1–P9, P11, P13: every hostile or ambiguous input is an error with
 * file:line:col, and no policy comes out. (P10 is in policy-files.test.ts, with real files.)
 */
import { describe, expect, it } from "vitest";
import { ENVS_AND_PRINCIPALS, KEYS, VALID, codes, errors, located, parse, parseOne, rulesFile } from "./helpers.js";
import { makeKeyFiles } from "../helpers/keys.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const withRule = (body: string) => parse({ "policies/a.yaml": ENVS_AND_PRINCIPALS, "policies/rules.yaml": rulesFile(body) });

describe("baseline", () => {
  it("the valid fixture parses without any diagnostic", () => {
    const r = parseOne(VALID);
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.rules[0]?.effect).toEqual({ type: "require", approvals: 1, from: ["sre"], reason: true, confirm: false, ttlSeconds: 1800 });
  });
});

describe("P1: malformed YAML is an error with line:col", () => {
  it.each([
    // The parser notices the missing quote at the end of the input.
    ["P1: unclosed double quote", 'version: 1\nenvironments:\n  production: { description: "live }\n', 4],
    ["P1: unclosed flow mapping", "version: 1\nenvironments:\n  production: { protected: true\n", 4],
    ["P1: tab used for indentation", "version: 1\nenvironments:\n\tproduction: {}\n", 3],
    ["P1: bad indentation", "version: 1\nenvironments:\n  production:\n    protected: true\n   aliases: [prod]\n", 5],
  ])("%s", (_name, text, line) => {
    const r = parseOne(text);
    expect(r.policy).toBeUndefined();
    const first = errors(r).find((d) => d.code === "yaml-syntax" || d.code === "tab-indentation");
    expect(first, JSON.stringify(r.diagnostics)).toBeDefined();
    expect(first!.file).toBe("policies/guard.yaml");
    expect(first!.line).toBe(line);
    expect(first!.col).toBeGreaterThanOrEqual(1);
  });
});

describe("P2: duplicate keys", () => {
  it("P2: duplicate key `approvals: 2` … `approvals: 0` is an error at the second key", () => {
    const r = withRule(`    match: { environments: [production] }
    require:
      approvals: 2
      from: [sre]
      approvals: 0
`);
    expect(r.policy).toBeUndefined();
    expect(located(errors(r))).toContain("duplicate-key@8:7");
    expect(errors(r).find((d) => d.code === "duplicate-key")?.file).toBe("policies/rules.yaml");
  });

  it("P2: a duplicate environment key in one mapping is an error", () => {
    const r = parseOne(VALID.replace("  staging:\n", "  production:\n"));
    expect(codes(errors(r))).toContain("duplicate-key");
    expect(r.policy).toBeUndefined();
  });
});

describe("P3/P4: anchors, aliases, merge keys and prototype keys are refused", () => {
  it("P3: an alias bomb fails fast, with every anchor and alias located", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const text = `version: 1\n${levels.join("\n")}\n`;
    const started = performance.now();
    const r = parseOne(text);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(r.policy).toBeUndefined();
    expect(codes(errors(r))).toContain("anchor");
    expect(codes(errors(r))).toContain("alias");
    expect(located(errors(r))).toContain("anchor@2:4");
  });

  it("P3: a self-referencing anchor is refused, not expanded", () => {
    const r = parseOne("version: 1\nx: &a [*a, *a]\n");
    expect(codes(errors(r))).toEqual(expect.arrayContaining(["anchor", "alias"]));
  });

  it("P4: a merge key `<<: *base` that would override approvals is refused", () => {
    const r = parse({
      "policies/a.yaml": ENVS_AND_PRINCIPALS,
      "policies/rules.yaml": `version: 1
rules:
  - name: r1
    match: { environments: [production] }
    require: &base
      approvals: 2
      from: [sre]
  - name: r2
    match: { environments: [staging] }
    require:
      <<: *base
      approvals: 1
`,
    });
    expect(r.policy).toBeUndefined();
    expect(located(errors(r))).toEqual(expect.arrayContaining(["anchor@5:14", "merge-key@11:7", "alias@11:11"]));
  });

  it.each(["__proto__", "constructor", "prototype"])("P4: the key `%s` is refused wherever it appears", (key) => {
    const asField = parseOne(VALID.replace("    protected: true\n", `    protected: true\n    ${key}: {}\n`));
    expect(codes(errors(asField))).toContain("reserved-key");
    const asName = parseOne(VALID.replace("  staging:\n", `  ${key}:\n`));
    expect(codes(errors(asName))).toContain("reserved-key");
    expect(asName.policy).toBeUndefined();
  });
});

describe("P5: unknown fields fail closed, with a suggestion", () => {
  it("P5: `aprovals: 2` is an unknown field with \"did you mean `approvals`?\"", () => {
    const r = withRule(`    match: { environments: [production] }
    require:
      aprovals: 2
      from: [sre]
`);
    expect(r.policy).toBeUndefined();
    const d = errors(r).find((x) => x.code === "unknown-field");
    expect(d).toMatchObject({ file: "policies/rules.yaml", line: 6, col: 7 });
    expect(d?.hint).toBe("did you mean `approvals`?");
    // The required field is missing as a consequence, and is reported too.
    expect(codes(errors(r))).toContain("missing-field");
  });

  it("P5: `deny:` mis-indented into `match` is an error that says where it belongs", () => {
    const r = withRule(`    match:
      environments: [production]
      deny: "never"
    allow: true
`);
    expect(r.policy).toBeUndefined();
    const d = errors(r).find((x) => x.code === "unknown-field");
    expect(d).toMatchObject({ line: 6, col: 7 });
    expect(d?.hint).toContain("`deny` is a field of a rule");
    expect(d?.hint).toContain("indentation");
  });

  it("P5: an unknown top-level field is an error", () => {
    const r = parseOne(VALID.replace("version: 1\n", "version: 1\nrulez: []\n"));
    expect(errors(r).find((d) => d.code === "unknown-field")?.hint).toBe("did you mean `rules`?");
  });
});

describe("P6: approvals must be a whole number from 1 to the eligible principals", () => {
  it.each([
    ["P6: the string \"2\"", '"2"', "wrong-type"],
    ["P6: 2.5", "2.5", "wrong-type"],
    ["P6: -1 (the sudo sentinel)", "-1", "wrong-type"],
    ["P6: 0 on a production rule", "0", "out-of-range"],
    ["P6: .inf", ".inf", "wrong-type"],
    ["P6: null", "null", "wrong-type"],
    ["P6: empty", "", "wrong-type"],
    ["P6: 2.0", "2.0", "wrong-type"],
    ["P6: hex 0x1", "0x1", "wrong-type"],
    ["P6: 4294967295", "4294967295", "approvals-unreachable"],
    ["P6: 3, larger than the sre group (alice, bob)", "3", "approvals-unreachable"],
  ])("%s is refused", (_name, value, code) => {
    const r = withRule(`    match: { environments: [production] }
    require:
      approvals: ${value}
      from: [sre]
`);
    expect(r.policy).toBeUndefined();
    expect(located(errors(r))).toContain(`${code}@6:18`);
  });

  it("P6: without `from`, every principal is eligible (3 of 3 is accepted, 4 is not)", () => {
    const ok = withRule("    match: { environments: [production] }\n    require: { approvals: 3 }\n");
    expect(errors(ok)).toEqual([]);
    const tooMany = withRule("    match: { environments: [production] }\n    require: { approvals: 4 }\n");
    expect(codes(errors(tooMany))).toEqual(["approvals-unreachable"]);
  });
});

describe("P7: YAML 1.1 scalars are never read as something else", () => {
  it("P7: `env: no` in a detector is ambiguous", () => {
    const r = parseOne(VALID.replace("      - env: DATABASE_URL\n        matches: \"*prod-db.*\"", "      - env: no\n        matches: \"*prod-db.*\""));
    expect(located(errors(r))).toEqual(["ambiguous-value@7:14"]);
  });

  it("P7: `protected: yes` is not a boolean", () => {
    const r = parseOne(VALID.replace("protected: true", "protected: yes"));
    const d = errors(r)[0]!;
    expect(d).toMatchObject({ code: "wrong-type", line: 4, col: 16 });
    expect(d.hint).toContain("write true or false");
  });

  it.each([["on"], ["True"], ["1"], ['"true"']])("P7: `reason: %s` is not the boolean true", (v) => {
    const r = parseOne(VALID.replace("reason: true", `reason: ${v}`));
    expect(codes(errors(r))).toEqual(["wrong-type"]);
  });

  it("P7: `ttl: 0600` is a number in YAML 1.2, not a duration", () => {
    const r = parseOne(VALID.replace("ttl: 30m", "ttl: 0600"));
    const d = errors(r)[0]!;
    expect(d).toMatchObject({ code: "wrong-type", line: 33, col: 12 });
    expect(d.message).toContain("written `0600`");
  });

  it("P7: `break_glass: off` is not a mapping", () => {
    const r = parseOne(`${VALID}break_glass: off\n`);
    expect(codes(errors(r))).toEqual(["wrong-type"]);
  });

  it("P7: a %YAML 1.1 directive cannot switch the schema", () => {
    const r = parseOne(`%YAML 1.1\n---\n${VALID.replace("protected: true", "protected: yes")}`);
    expect(codes(errors(r))).toContain("directive");
    expect(r.policy).toBeUndefined();
  });

  it("P7: explicit tags are refused", () => {
    const r = parseOne(VALID.replace("protected: true", "protected: !!bool true"));
    expect(codes(errors(r))).toContain("tag");
  });

  it("P7: unquoted and quoted freeze times read the same", () => {
    const freeze = (q: string) => `${VALID}freezes:\n  - name: f\n    environments: [production]\n    from: ${q}2026-12-23T00:00:00Z${q}\n    until: ${q}2027-01-02T00:00:00+01:00${q}\n    reason: r\n`;
    const plain = parseOne(freeze(""));
    const quoted = parseOne(freeze('"'));
    expect(plain.diagnostics).toEqual([]);
    expect(plain.policy?.freezes).toEqual(quoted.policy?.freezes);
    expect(plain.policy?.freezes[0]).toMatchObject({ from: Date.UTC(2026, 11, 23), until: Date.UTC(2027, 0, 1, 23) });
  });
});

describe("P8: too large or too deep is refused before parsing", () => {
  it("P8: a file over 1 MiB", () => {
    const big = new Uint8Array(1024 * 1024 + 1).fill(0x20);
    const r = parseOne(big);
    expect(located(errors(r))).toEqual(["too-large@1:1"]);
    expect(errors(r)[0]!.message).toContain("too large");
  });

  it.each([
    ["P8: 10k nested flow sequences", "x: " + "[".repeat(10_000) + "]".repeat(10_000)],
    ["P8: 100k nested flow mappings (about 1 MiB)", "x: " + "{a: ".repeat(200_000).slice(0, 800_000)],
    ["P8: 10k nested block sequences on one line", "- ".repeat(10_000) + "x\n"],
    ["P8: 1k nested block mappings, one more space per line", Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")],
  ])("%s", (_name, text) => {
    const started = performance.now();
    const r = parseOne(`version: 1\n${text}`);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(codes(errors(r))).toEqual(["too-deep"]);
    expect(errors(r)[0]!.message).toContain("too deeply");
  });

  it("P8: normal nesting (a realistic policy) is far from the limit", () => {
    expect(parseOne(VALID).diagnostics).toEqual([]);
  });
});

describe("P9: bytes that are not plain UTF-8 text", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

  it("P9: invalid UTF-8 is located, never replaced with U+FFFD", () => {
    const r = parseOne(join(enc("version: 1\nx: caf"), Uint8Array.of(0xc3, 0x28), enc("\n")));
    expect(located(errors(r))).toEqual(["invalid-utf8@2:7"]);
  });

  it.each([
    ["P9: an overlong encoding", Uint8Array.of(0xc0, 0xaf)],
    ["P9: a UTF-16 surrogate encoded in UTF-8", Uint8Array.of(0xed, 0xa0, 0x80)],
    ["P9: a truncated sequence", Uint8Array.of(0xe2, 0x82)],
  ])("%s", (_name, bytes) => {
    expect(codes(errors(parseOne(join(enc("version: 1\nx: "), bytes))))).toEqual(["invalid-utf8"]);
  });

  it.each([
    ["P9: a UTF-8 byte-order mark", Uint8Array.of(0xef, 0xbb, 0xbf)],
    ["P9: a UTF-16 LE byte-order mark", Uint8Array.of(0xff, 0xfe)],
    ["P9: a UTF-16 BE byte-order mark", Uint8Array.of(0xfe, 0xff)],
  ])("%s", (_name, bom) => {
    const r = parseOne(join(bom, enc(VALID)));
    expect(located(errors(r))).toEqual(["byte-order-mark@1:1"]);
  });

  it("P9: a NUL byte", () => {
    const r = parseOne(join(enc("version: 1\nx: a"), Uint8Array.of(0), enc("b\n")));
    expect(located(errors(r))).toEqual(["nul-byte@2:5"]);
  });

  it.each([
    ["a right-to-left override", "\u202e"],
    ["a zero-width space", "\u200b"],
    ["an escape character", "\u001b"],
    ["a C1 control", "\u009b"],
  ])("P9: %s anywhere in the text is refused", (_name, ch) => {
    const r = parseOne(VALID.replace("purge-needs-an-sre", `purge${ch}-needs-an-sre`));
    expect(located(errors(r))).toContain("forbidden-character@25:16");
    expect(r.policy).toBeUndefined();
  });
});

describe("P11: nothing never means allow-all", () => {
  it.each([
    ["P11: an empty file", ""],
    ["P11: only blank lines", "\n\n  \n"],
    ["P11: only comments", "# policy goes here\n# later\n"],
    ["P11: only a document marker", "---\n"],
  ])("%s", (_name, text) => {
    const r = parse({ "policies/a.yaml": VALID, "policies/b.yaml": text });
    expect(r.policy).toBeUndefined();
    expect(errors(r).map((d) => `${d.file}:${d.code}`)).toEqual(["policies/b.yaml:empty-file"]);
  });

  it("P11: a second `---` document", () => {
    const r = parseOne(`${VALID}---\nrules: []\n`);
    expect(located(errors(r))).toEqual(["multiple-documents@34:1"]);
  });

  it("P11: a policy without environments", () => {
    const r = parseOne(rulesFile("    match: {}\n    deny: no\n".replace("deny: no", 'deny: "x"')));
    expect(codes(errors(r))).toEqual(["no-environments"]);
  });

  it("P11: a policy without rules", () => {
    const r = parseOne(ENVS_AND_PRINCIPALS);
    expect(located(errors(r))).toEqual(["no-rules@1:1"]);
    const emptyList = parseOne(`${ENVS_AND_PRINCIPALS}rules: []\n`);
    expect(codes(errors(emptyList))).toEqual(["no-rules"]);
  });

  it("P11: a directory with only tests has no policy", () => {
    const r = parse({ "policies/a.test.yaml": "tests:\n  - name: t\n    run: [x]\n    expect: { decision: deny }\n" });
    expect(codes(errors(r))).toContain("no-policy-files");
    expect(r.policy).toBeUndefined();
  });
});

describe("P13: public keys", () => {
  it("P13: one public key under two principals is an error at both places", () => {
    const r = parseOne(VALID.replace(`keys: ["${KEYS.carol}"]`, `keys: ["${KEYS.alice}"]`));
    expect(located(errors(r))).toEqual(["shared-public-key@16:12", "shared-public-key@22:12"]);
    expect(errors(r)[0]!.message).toContain("`alice` and `carol`");
  });

  it("P13: the same key under two principals in two files is caught too", () => {
    const other = `version: 1\nprincipals:\n  mallory:\n    keys: ["${KEYS.bob.replace("bob@", "mallory@")}"]\n`;
    const r = parse({ "policies/a.yaml": VALID, "policies/b.yaml": other });
    expect(errors(r).map((d) => `${d.file}:${d.line}:${d.code}`)).toEqual(["policies/a.yaml:19:shared-public-key", "policies/b.yaml:4:shared-public-key"]);
  });

  it("P13: ssh-rsa 1024-bit and DSA keys (real ones from ssh-keygen) are refused; a 2048-bit RSA key is accepted", async () => {
    const dir = await mkdtemp(join(tmpdir(), "guard-p13-"));
    try {
      const [rsa1024, dsa, rsa2048] = await Promise.all([makeKeyFiles(dir, "weak", "rsa-1024"), makeKeyFiles(dir, "old", "dsa"), makeKeyFiles(dir, "fine", "rsa-2048")]);
      const withKey = (line: string) => parseOne(VALID.replace(`keys: ["${KEYS.carol}"]`, `keys: ["${line}"]`));
      const weak = errors(withKey(rsa1024.publicLine));
      expect(located(weak)).toEqual(["bad-key@22:12"]);
      expect(weak[0]!.message).toContain("1024 bits");
      const old = errors(withKey(dsa.publicLine));
      expect(codes(old)).toEqual(["bad-key"]);
      expect(old[0]!.message).toContain("DSA");
      expect(withKey(rsa2048.publicLine).diagnostics).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ["an unknown key type", "ssh-foo AAAAB3NzaC1yc2E= x"],
    ["garbage", "not a key"],
    ["a private key line", "-----BEGIN OPENSSH PRIVATE KEY-----"],
    ["a key whose blob says another type", KEYS.alice.replace("ssh-ed25519", "ecdsa-sha2-nistp256")],
  ])("P13: %s is refused", (_name, line) => {
    const r = parseOne(VALID.replace(`keys: ["${KEYS.carol}"]`, `keys: ["${line}"]`));
    expect(codes(errors(r))).toEqual(["bad-key"]);
  });
});
