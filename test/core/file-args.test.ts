import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/canonical.js";
import { GuardError } from "../../src/core/errors.js";
import { MAX_FILES, MAX_TEXT_BYTES, compareFiles, fileArgCandidates, textOf, type BoundFile } from "../../src/core/file-args.js";
import { buildRequest, bindingOf, compareBinding, validateRequestShape } from "../../src/core/request.js";

const FP = "SHA256:" + "A".repeat(43);
const HEX = (c: string): string => c.repeat(64);

describe("fileArgCandidates", () => {
  it.each<[string[], Array<[number, string]>]>([
    [["psql", "-f", "x.sql"], [[1, "-f"], [2, "x.sql"]]],
    [["psql", "--file=x.sql"], [[1, "--file=x.sql"], [1, "x.sql"]]],
    [["dd", "if=disk.img", "of="], [[1, "if=disk.img"], [1, "disk.img"], [2, "of="]]],
    [["prog", ""], []],
    [["prog"], []],
  ])("%j", (argv, expected) => {
    expect(fileArgCandidates(argv).map((c) => [c.arg, c.name])).toEqual(expected);
  });
});

describe("textOf", () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  it.each<[string, Uint8Array, string | undefined]>([
    ["plain text", enc("DELETE FROM t;\n"), "DELETE FROM t;\n"],
    ["escape sequences are text (shown escaped)", enc("\x1b[2Jhi"), "\x1b[2Jhi"],
    ["a byte-order mark is kept", Uint8Array.from([0xef, 0xbb, 0xbf, 0x41]), "\ufeffA"],
    ["NUL makes it binary", Uint8Array.from([0x41, 0, 0x42]), undefined],
    ["invalid UTF-8", Uint8Array.from([0xff, 0xfe, 0x41]), undefined],
    ["too large", new Uint8Array(MAX_TEXT_BYTES + 1).fill(0x41), undefined],
    ["exactly the limit", new Uint8Array(MAX_TEXT_BYTES).fill(0x41), "A".repeat(MAX_TEXT_BYTES)],
  ])("%s", (_, bytes, expected) => {
    expect(textOf(bytes)).toBe(expected);
  });
});

const file = (arg: number, name: string, content: string, path = `/repo/${name}`): BoundFile => ({
  arg, name, path, type: "file", size: Buffer.byteLength(content), sha256: sha256Hex(content),
});

describe("compareFiles", () => {
  const a = file(2, "x.sql", "one");
  it.each<[string, BoundFile[] | undefined, BoundFile[], string[]]>([
    ["the same", [a], [{ ...a }], []],
    ["content changed", [a], [file(2, "x.sql", "two")], ["argv[2] x.sql"]],
    ["removed", [a], [], ["argv[2] x.sql"]],
    ["appeared later", [], [a], ["argv[2] x.sql"]],
    ["appeared later (request without files)", undefined, [a], ["argv[2] x.sql"]],
    ["same content, other real path", [a], [file(2, "x.sql", "one", "/elsewhere/x.sql")], ["argv[2] x.sql"]],
    ["a directory became a file", [{ arg: 2, name: "x.sql", path: "/repo/x.sql", type: "directory" }], [a], ["argv[2] x.sql"]],
    ["directories compare by path only", [{ arg: 1, name: "d", path: "/repo/d", type: "directory" }], [{ arg: 1, name: "d", path: "/repo/d", type: "directory" }], []],
  ])("%s", (_, approved, now, labels) => {
    expect(compareFiles(approved, now).map((d) => d.label)).toEqual(labels);
  });

  it("names the approved and the current content", () => {
    const [d] = compareFiles([a], [file(2, "x.sql", "two")]);
    expect(d!.approved).toContain(sha256Hex("one"));
    expect(d!.current).toContain(sha256Hex("two"));
  });
});

function request(files?: BoundFile[]) {
  return buildRequest({
    id: "r-aaaaaaaaaaaaaaaaaaaa",
    nonce: "0".repeat(32),
    requester: { principal: "alice", fingerprint: FP, key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==" },
    argv: ["scripts/run.sh", "-f", "x.sql", "--var-file=v.tfvars"],
    program: { path: "/repo/scripts/run.sh", sha256: HEX("a") },
    ...(files ? { files } : {}),
    cwd: "/repo",
    environment: { name: "production", protected: true, evidence: [] },
    env: {},
    stdin: { kind: "null" },
    reason: null,
    policyDigest: HEX("c"),
    rules: [],
    requirements: [],
    breakGlass: false,
    now: Date.parse("2026-03-01T10:00:00.000Z"),
  });
}

function malformed(x: unknown): string {
  try {
    validateRequestShape(x);
  } catch (e) {
    if (e instanceof GuardError && e.exitCode === 65) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

describe("the request's files field", () => {
  const sql = { ...file(2, "x.sql", "DELETE FROM t;\n"), text: "DELETE FROM t;\n" };
  const vars = file(3, "v.tfvars", "region = 1\n");

  it("is absent when no argument names a file: older requests keep their shape", () => {
    expect("files" in request()).toBe(false);
    expect("files" in request([])).toBe(false);
  });

  it("round-trips and is compared at run time", () => {
    const req = request([sql, vars]);
    expect(req.files).toEqual([sql, vars]);
    const binding = { ...bindingOf(req), files: [sql, file(3, "v.tfvars", "region = 2\n")] };
    expect(compareBinding(req, binding).map((d) => d.field)).toEqual(["file argv[3] v.tfvars"]);
  });

  it.each<[string, (f: Record<string, unknown>) => void]>([
    ["a text that is not the bound content", (f) => (f.text = "SELECT 1;\n")],
    ["a size that is not the text's", (f) => (f.size = 3)],
    ["an argument index out of range", (f) => (f.arg = 9)],
    ["a name the argument does not give", (f) => (f.name = "y.sql")],
    ["a relative path", (f) => (f.path = "x.sql")],
    ["an unknown type", (f) => (f.type = "fifo")],
    ["an unknown field", (f) => (f.mode = 420)],
    ["argv[0] (the program is bound on its own)", (f) => (f.arg = 0)],
  ])("refuses %s", (_, mutate) => {
    const req = JSON.parse(JSON.stringify(request([sql]))) as { files: Array<Record<string, unknown>> };
    mutate(req.files[0]!);
    expect(malformed(req)).toMatch(/request record is malformed: files/);
  });

  it("refuses an empty list, duplicates and more than the limit", () => {
    const base = JSON.parse(JSON.stringify(request([sql]))) as Record<string, unknown>;
    expect(malformed({ ...base, files: [] })).toMatch(/files/);
    expect(malformed({ ...base, files: [sql, sql] })).toMatch(/files/);
    expect(malformed({ ...base, files: Array.from({ length: MAX_FILES + 1 }, () => sql) })).toMatch(/files/);
  });
});
