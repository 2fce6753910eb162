import { canonicalJson, sha256Hex } from "./canonical.js";
import { ExitCode, GuardError, configError, integrityError } from "./errors.js";
import { escapeForTerminal, quoteArg } from "./escape.js";
import { isNameOnly } from "./bind-env.js";
import { isRequestId } from "./ids.js";
import { DETECTORS } from "./detectors/registry.js";
import { MAX_NAME_LENGTH, NAME_RE } from "./policy/fields.js";
import { MAX_FILES, compareFiles, textMatches, type BoundFile } from "./file-args.js";
import { PREVIEW_MAX_BYTES } from "./preview.js";
import type {
  ApprovalStatement,
  BoundVariable,
  Consumption,
  Evidence,
  GuardRequest,
  ProgramVia,
  Requirement,
  SignedApproval,
  SignedRequest,
  StdinBinding,
} from "./types.js";

/**
 * The canonical request: what the requester signs, what approvers sign over (by digest), and what a run
 * is compared against, field by field, before anything executes.
 */

export const DEFAULT_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Everything a request holds except what buildRequest derives (version, creation and expiry times),
 * plus the store clock's `now` (epoch ms). `requester.key` is `<type> <base64>` without a comment.
 */
export type BuildRequestInput = Omit<GuardRequest, "v" | "createdAt" | "expiresAt"> & { now: number };

/** Lifetime of a request: the strictest requirement's ttl, 1 h without requirements, never above 7 d. */
export function requestTtlSeconds(requirements: readonly Requirement[]): number {
  const ttls = requirements.map((r) => r.ttlSeconds);
  return Math.min(MAX_TTL_SECONDS, ...(ttls.length > 0 ? ttls : [DEFAULT_TTL_SECONDS]));
}

export function buildRequest(p: BuildRequestInput): GuardRequest {
  if (!isRequestId(p.id)) throw new GuardError(ExitCode.INTERNAL, `buildRequest: invalid request id ${JSON.stringify(p.id)}`);
  if (!Number.isSafeInteger(p.now) || p.now < 0) throw new GuardError(ExitCode.INTERNAL, "buildRequest: invalid time");
  for (const r of p.requirements) {
    if (!Number.isSafeInteger(r.ttlSeconds) || r.ttlSeconds <= 0) {
      throw configError(`rule ${JSON.stringify(r.rule)} has an invalid ttl (${r.ttlSeconds} s)`, "set a positive ttl such as 30m");
    }
  }
  const request: GuardRequest = {
    v: 1,
    id: p.id,
    requester: { principal: p.requester.principal, fingerprint: p.requester.fingerprint, key: p.requester.key },
    argv: [...p.argv],
    program: programRecord(p.program),
    // Present only when an argument names a file: requests without one keep the shape they always had.
    ...(p.files && p.files.length > 0 ? { files: p.files.map((f) => ({ ...f })) } : {}),
    ...(p.previews && p.previews.length > 0 ? { previews: p.previews.map((x) => ({ ...x, argv: [...x.argv] })) } : {}),
    cwd: p.cwd,
    environment: { name: p.environment.name, protected: p.environment.protected, evidence: p.environment.evidence.map((e) => ({ ...e })) },
    env: Object.fromEntries(Object.entries(p.env).map(([k, v]) => [k, { sha256: v.sha256, shown: v.shown }])),
    stdin: { kind: p.stdin.kind },
    reason: p.reason,
    policyDigest: p.policyDigest,
    rules: [...p.rules],
    requirements: p.requirements.map((r) => ({ ...r, from: r.from === null ? null : [...r.from], ...(r.preview ? { preview: { ...r.preview, command: [...r.preview.command] } } : {}) })),
    breakGlass: p.breakGlass,
    createdAt: new Date(p.now).toISOString(),
    expiresAt: new Date(p.now + requestTtlSeconds(p.requirements) * 1000).toISOString(),
    nonce: p.nonce,
  };
  // Fail here, not at the approver's end, if anything we were given would not survive a round trip.
  return validateRequestShape(JSON.parse(canonicalJson(request)));
}

/** The request's program: `via` is present only when the program is reached through symbolic links. */
function programRecord(p: GuardRequest["program"]): GuardRequest["program"] {
  const base: GuardRequest["program"] = p.relative === undefined ? { path: p.path, sha256: p.sha256 } : { path: p.path, sha256: p.sha256, relative: p.relative };
  if (p.via === undefined) return base;
  return { ...base, via: { path: p.via.path, links: p.via.links.map((l) => ({ path: l.path, target: l.target })) } };
}

/** What the requester signs (namespace SIG_NAMESPACE.request). */
export function requestMessage(req: GuardRequest): string {
  return canonicalJson(req);
}

/** What approvers sign over: binds every field of the request, the nonce and the expiry included. */
export function requestDigest(req: GuardRequest): string {
  return sha256Hex(requestMessage(req));
}

/** What an approver signs (namespace SIG_NAMESPACE.approval). */
export function approvalMessage(st: ApprovalStatement): string {
  return canonicalJson(st);
}

/** Expired at `now` (store clock); an unreadable expiry counts as expired. */
export function isExpired(req: GuardRequest, now: number): boolean {
  const t = Date.parse(req.expiresAt);
  return !Number.isFinite(t) || now >= t;
}

// ---------------------------------------------------------------------------------------------
// Binding comparison
// ---------------------------------------------------------------------------------------------

/** The fields of a request that are re-derived when the run actually happens. */
export interface RunBinding {
  argv: string[];
  program: { path: string; sha256: string; relative?: string | null; via?: ProgramVia };
  /** What the arguments name on disk now (empty when nothing). */
  files: BoundFile[];
  cwd: string;
  environment: { name: string; evidence: Evidence[] };
  env: Record<string, BoundVariable>;
  stdin: StdinBinding;
  policyDigest: string;
  requesterFingerprint: string;
}

export type BindingField =
  | "argv"
  | "program.path"
  | "program.sha256"
  | "program.via"
  | `file ${string}`
  | "cwd"
  | "environment"
  | "evidence"
  | `env.${string}`
  | "stdin"
  | "policy"
  | "requester";

/** One way the run differs from what was approved; both sides are already escaped for a terminal. */
export interface BindingDifference {
  field: BindingField;
  approved: string;
  current: string;
}

export function bindingOf(req: GuardRequest): RunBinding {
  return {
    argv: req.argv,
    program: req.program,
    files: req.files ?? [],
    cwd: req.cwd,
    environment: { name: req.environment.name, evidence: req.environment.evidence },
    env: req.env,
    stdin: req.stdin,
    policyDigest: req.policyDigest,
    requesterFingerprint: req.requester.fingerprint,
  };
}

const UNSET: BoundVariable = { sha256: null, shown: null };
const show = (s: string): string => escapeForTerminal(s);

/**
 * Every difference between the approved request and the run, in a fixed order. Byte-exact: argv is
 * compared element by element with no normalisation (C6, C7), and each differing index is named.
 *
 * Evidence is compared as a multiset of (source, subject, value, environment): a different production
 * host, kube context or database behind the same environment name is a different target, so the value
 * counts. The `detail` wording is not compared, and `declared` evidence (the --env flag) is left out:
 * it only cross-checks detection, and the environment name itself is compared on its own line.
 * Variables missing from either side's `env` count as unset, so a consequential variable that appears
 * at run time (LD_*, AWS_*, BASH_FUNC_*, PSQLRC, …) is a difference; any other variable that appears
 * (bound by name only) is not, because the child of an approved run never receives it (bind-env.ts).
 */
export function compareBinding(req: GuardRequest, now: RunBinding): BindingDifference[] {
  const diffs: BindingDifference[] = [];
  const push = (field: BindingField, approved: string, current: string): void => {
    diffs.push({ field, approved, current });
  };

  const n = Math.max(req.argv.length, now.argv.length);
  for (let i = 0; i < n; i++) {
    const a = req.argv[i];
    const b = now.argv[i];
    if (a !== b) push("argv", argvItem(i, a), argvItem(i, b));
  }
  if (req.program.path !== now.program.path) push("program.path", show(req.program.path), show(now.program.path));
  // The program's place under the policy root is what path globs match: a request that claims another
  // place than the real one would borrow another rule (only bound in requests that record it).
  else if (req.program.relative !== undefined && req.program.relative !== (now.program.relative ?? null)) {
    push("program.path", `${show(req.program.path)} (as ${show(req.program.relative ?? "outside the policy root")})`, `${show(now.program.path)} (as ${show(now.program.relative ?? "outside the policy root")})`);
  }
  if (req.program.sha256 !== now.program.sha256) push("program.sha256", show(req.program.sha256), show(now.program.sha256));
  // The path executed and each link on the way: a link pointed elsewhere after approval (even at a file
  // with the same content, even through a different chain to the same file) is not the approved run.
  const viaApproved = renderVia(req.program.via);
  const viaNow = renderVia(now.program.via);
  if (viaApproved !== viaNow) push("program.via", viaApproved, viaNow);
  // Each argument that names a file is bound by its content: changed, removed or newly there differs.
  for (const d of compareFiles(req.files, now.files)) push(`file ${d.label}`, d.approved, d.current);
  if (req.cwd !== now.cwd) push("cwd", show(req.cwd), show(now.cwd));
  if (req.environment.name !== now.environment.name) push("environment", show(req.environment.name), show(now.environment.name));

  const onlyApproved = evidenceMinus(req.environment.evidence, now.environment.evidence);
  const onlyCurrent = evidenceMinus(now.environment.evidence, req.environment.evidence);
  if (onlyApproved.length > 0 || onlyCurrent.length > 0) push("evidence", renderEvidence(onlyApproved), renderEvidence(onlyCurrent));

  const names = [...new Set([...Object.keys(req.env), ...Object.keys(now.env)])].sort();
  for (const name of names) {
    const approved = Object.hasOwn(req.env, name) ? req.env[name] : undefined;
    const b = (Object.hasOwn(now.env, name) ? now.env[name] : undefined) ?? UNSET;
    // A variable of no consequence that appeared after the approval is not a difference: it is
    // withheld from the child (childEnvironment), which receives only what was bound.
    if (approved === undefined && isNameOnly(b)) continue;
    const a = approved ?? UNSET;
    if (a.sha256 === b.sha256) continue;
    const sameText = a.shown === b.shown;
    push(`env.${name}`, renderVariable(a, sameText), renderVariable(b, sameText));
  }
  if (req.stdin.kind !== now.stdin.kind) push("stdin", show(req.stdin.kind), show(now.stdin.kind));
  if (req.policyDigest !== now.policyDigest) push("policy", show(req.policyDigest), show(now.policyDigest));
  if (req.requester.fingerprint !== now.requesterFingerprint) push("requester", show(req.requester.fingerprint), show(now.requesterFingerprint));
  return diffs;
}

/** How the program is reached, for the approver and for comparison: `path (link → target, …)`, escaped. */
export function renderVia(via: ProgramVia | undefined | null): string {
  if (!via) return "(its real path, no symbolic link)";
  return `${show(via.path)} (${via.links.map((l) => `${show(l.path)} → ${show(l.target)}`).join(", ")})`;
}

function argvItem(i: number, v: string | undefined): string {
  return `argv[${i}] = ${v === undefined ? "(none)" : quoteArg(v)}`;
}

function renderVariable(v: BoundVariable, withDigest: boolean): string {
  if (v.sha256 === null) return "(unset)";
  if (v.shown === null) return `(set, value not shown; sha256 ${v.sha256.slice(0, 12)}…)`;
  const text = show(v.shown);
  // Two redacted values can read the same; the digest prefix then shows that they are not.
  return withDigest ? `${text} (sha256 ${v.sha256.slice(0, 12)}…)` : text;
}

function evidenceKey(e: Evidence): string | null {
  return e.source === "declared" ? null : JSON.stringify([e.source, e.subject, e.value, e.environment]);
}

function evidenceMinus(a: readonly Evidence[], b: readonly Evidence[]): Evidence[] {
  const remaining = new Map<string, number>();
  for (const e of b) {
    const k = evidenceKey(e);
    if (k !== null) remaining.set(k, (remaining.get(k) ?? 0) + 1);
  }
  const out: Evidence[] = [];
  for (const e of a) {
    const k = evidenceKey(e);
    if (k === null) continue;
    const left = remaining.get(k) ?? 0;
    if (left > 0) remaining.set(k, left - 1);
    else out.push(e);
  }
  return out;
}

function renderEvidence(list: readonly Evidence[]): string {
  if (list.length === 0) return "(nothing else)";
  return list.map((e) => `${e.source} ${show(e.subject)} = ${show(e.value)} → ${e.environment === null ? "(unknown)" : show(e.environment)}`).join("; ");
}

/**
 * The key under which a store indexes a request for "the request for this exact run" (Store
 * findRequestsByBinding): SHA-256 of the canonical requester, typed argv, program path, cwd and
 * environment name. Fields that compareBinding compares for equality only, so equal bindings always
 * share a key; a key is only a hint (anyone who can write the store can write the index), and
 * matchingRequests and assessRequest still decide on the full record.
 */
export function bindingKey(b: { requesterFingerprint: string; argv: readonly string[]; program: string; cwd: string; environment: string }): string {
  return sha256Hex(canonicalJson({ v: 1, requester: b.requesterFingerprint, argv: b.argv, program: b.program, cwd: b.cwd, environment: b.environment }));
}

/** bindingKey of a stored request (the store computes it when the request is stored). */
export function requestBindingKey(req: GuardRequest): string {
  return bindingKey({ requesterFingerprint: req.requester.fingerprint, argv: req.argv, program: req.program.path, cwd: req.cwd, environment: req.environment.name });
}

/** bindingKey of the run about to happen. */
export function runBindingKey(b: RunBinding): string {
  return bindingKey({ requesterFingerprint: b.requesterFingerprint, argv: b.argv, program: b.program.path, cwd: b.cwd, environment: b.environment.name });
}

export const BINDING_KEY_RE = /^[0-9a-f]{64}$/;

/**
 * The unexpired requests by this requester whose binding equals the run exactly, newest first (used by
 * `guard run -- CMD` and `guard request` to pick up an existing request). Malformed candidates and
 * break-glass records are skipped; signatures and approval status are not looked at here: the caller
 * assesses each one and skips those that do not verify.
 */
export function matchingRequests(
  candidates: readonly SignedRequest[],
  binding: RunBinding,
  requesterFingerprint: string,
  now: number,
): SignedRequest[] {
  const found: Array<{ signed: SignedRequest; created: number }> = [];
  for (const signed of candidates) {
    let req: GuardRequest;
    try {
      req = validateRequestShape(signed.request);
    } catch {
      continue;
    }
    if (req.breakGlass || req.requester.fingerprint !== requesterFingerprint || isExpired(req, now)) continue;
    if (compareBinding(req, binding).length > 0) continue;
    found.push({ signed, created: Date.parse(req.createdAt) });
  }
  found.sort((a, b) => b.created - a.created || (a.signed.request.id < b.signed.request.id ? 1 : -1));
  return found.map((f) => f.signed);
}

/** The newest of matchingRequests(), or null. */
export function findMatchingRequest(
  candidates: readonly SignedRequest[],
  binding: RunBinding,
  requesterFingerprint: string,
  now: number,
): SignedRequest | null {
  return matchingRequests(candidates, binding, requesterFingerprint, now)[0] ?? null;
}

const HEX64 = /^[0-9a-f]{64}$/;
const NONCE = /^(?:[0-9a-f]{2}){16,64}$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
const KEY_LINE = /^[a-z0-9][a-z0-9@.-]* [A-Za-z0-9+/]+={0,2}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const EVIDENCE_SOURCES = new Set<string>(["declared", ...DETECTORS.map((k) => k.type), "default", "identity"]);
const MALFORMED_HINT = "the store may have been tampered with or a write was torn; do not trust this record, inspect the store and create a new request";

/** Checks one record kind; every failure names the field path, escaped for the terminal. */
class Shape {
  constructor(private readonly what: string) {}

  fail(field: string): never {
    throw integrityError(`${this.what} record is malformed: ${escapeForTerminal(field)}`, MALFORMED_HINT);
  }

  /** A plain object with exactly these keys (any keys when `keys` is null). */
  obj(x: unknown, at: string, keys: readonly string[] | null): Record<string, unknown> {
    if (typeof x !== "object" || x === null || Array.isArray(x)) this.fail(at || "(root)");
    const proto = Object.getPrototypeOf(x) as unknown;
    if (proto !== Object.prototype && proto !== null) this.fail(at || "(root)");
    const rec = x as Record<string, unknown>;
    if (keys === null) return rec;
    for (const k of Object.keys(rec)) if (!keys.includes(k)) this.fail(join(at, k));
    for (const k of keys) if (!Object.prototype.hasOwnProperty.call(rec, k)) this.fail(join(at, k));
    return rec;
  }

  str(x: unknown, at: string, re?: RegExp): string {
    if (typeof x !== "string" || (re !== undefined && !re.test(x))) this.fail(at);
    return x;
  }

  nonEmpty(x: unknown, at: string): string {
    const s = this.str(x, at);
    if (s.length === 0) this.fail(at);
    return s;
  }

  strOrNull(x: unknown, at: string): string | null {
    return x === null ? null : this.str(x, at);
  }

  /**
   * A name as a policy spells it (principal, group, rule, environment: lowercase ASCII `[a-z0-9_-]`).
   * A record naming anything else was not written by guard from a policy, and no such name can be
   * matched, so it is malformed rather than shown.
   */
  name(x: unknown, at: string): string {
    const s = this.str(x, at, NAME_RE);
    if (s.length > MAX_NAME_LENGTH) this.fail(at);
    return s;
  }

  nameOrNull(x: unknown, at: string): string | null {
    return x === null ? null : this.name(x, at);
  }

  bool(x: unknown, at: string): boolean {
    if (typeof x !== "boolean") this.fail(at);
    return x;
  }

  int(x: unknown, at: string, min: number): number {
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < min) this.fail(at);
    return x;
  }

  iso(x: unknown, at: string): string {
    const s = this.str(x, at, ISO);
    const t = Date.parse(s);
    if (!Number.isFinite(t) || new Date(t).toISOString() !== s) this.fail(at);
    return s;
  }

  arr<T>(x: unknown, at: string, item: (v: unknown, at: string) => T): T[] {
    if (!Array.isArray(x)) this.fail(at);
    return x.map((v, i) => item(v, `${at}[${i}]`));
  }
}

function join(at: string, key: string): string {
  return at === "" ? key : `${at}.${key}`;
}

const REQUEST_KEYS = [
  "v", "id", "requester", "argv", "program", "cwd", "environment", "env", "stdin", "reason",
  "policyDigest", "rules", "requirements", "breakGlass", "createdAt", "expiresAt", "nonce",
] as const;


/** A parsed request record, checked strictly; throws 65 "request record is malformed: <field>". */
export function validateRequestShape(x: unknown): GuardRequest {
  return checkRequest(new Shape("request"), x, "");
}

function checkRequest(s: Shape, x: unknown, at: string): GuardRequest {
  const has = (k: string): boolean => typeof x === "object" && x !== null && Object.prototype.hasOwnProperty.call(x, k);
  const hasFiles = has("files");
  const hasPreviews = has("previews");
  const r = s.obj(x, at, [...REQUEST_KEYS, ...(hasFiles ? ["files"] : []), ...(hasPreviews ? ["previews"] : [])]);
  const f = (k: string): string => join(at, k);
  if (r.v !== 1) s.fail(f("v"));
  s.str(r.id, f("id"));
  if (!isRequestId(r.id)) s.fail(f("id"));
  const requester = s.obj(r.requester, f("requester"), ["principal", "fingerprint", "key"]);
  s.nameOrNull(requester.principal, f("requester.principal"));
  s.str(requester.fingerprint, f("requester.fingerprint"), FINGERPRINT);
  s.str(requester.key, f("requester.key"), KEY_LINE);
  const argv = s.arr(r.argv, f("argv"), (v, a) => s.str(v, a));
  if (argv.length === 0) s.fail(f("argv"));
  const hasRelative = typeof r.program === "object" && r.program !== null && Object.prototype.hasOwnProperty.call(r.program, "relative");
  const hasVia = typeof r.program === "object" && r.program !== null && Object.prototype.hasOwnProperty.call(r.program, "via");
  const program = s.obj(r.program, f("program"), ["path", "sha256", ...(hasRelative ? ["relative"] : []), ...(hasVia ? ["via"] : [])]);
  s.nonEmpty(program.path, f("program.path"));
  s.str(program.sha256, f("program.sha256"), HEX64);
  if (hasRelative && program.relative !== null) {
    const rel = s.nonEmpty(program.relative, f("program.relative"));
    if (rel.startsWith("/") || rel.split("/").some((part) => part === "" || part === "." || part === "..")) s.fail(f("program.relative"));
  }
  if (hasVia) {
    const via = s.obj(program.via, f("program.via"), ["path", "links"]);
    s.nonEmpty(via.path, f("program.via.path"));
    const links = s.arr(via.links, f("program.via.links"), (v, a) => {
      const l = s.obj(v, a, ["path", "target"]);
      s.nonEmpty(l.path, join(a, "path"));
      s.nonEmpty(l.target, join(a, "target"));
      return l;
    });
    // A via without a link is no via: it would make two records for one run.
    if (links.length === 0) s.fail(f("program.via.links"));
  }
  if (hasFiles) checkFiles(s, r.files, f("files"), argv);
  s.nonEmpty(r.cwd, f("cwd"));
  const env = s.obj(r.environment, f("environment"), ["name", "protected", "evidence"]);
  s.name(env.name, f("environment.name"));
  s.bool(env.protected, f("environment.protected"));
  s.arr(env.evidence, f("environment.evidence"), (v, a) => checkEvidence(s, v, a));
  const vars = s.obj(r.env, f("env"), null);
  for (const [name, value] of Object.entries(vars)) {
    if (name === "" || name.includes("=") || name.includes("\0")) s.fail(f(`env.${name}`));
    const b = s.obj(value, f(`env.${name}`), ["sha256", "shown"]);
    if (b.sha256 === null) {
      if (b.shown !== null) s.fail(f(`env.${name}.shown`));
    } else {
      s.str(b.sha256, f(`env.${name}.sha256`), HEX64);
      // null: bound by name and digest only (bind-env.ts shows values of consequential variables only)
      s.strOrNull(b.shown, f(`env.${name}.shown`));
    }
  }
  const stdin = s.obj(r.stdin, f("stdin"), ["kind"]);
  if (stdin.kind !== "tty" && stdin.kind !== "null") s.fail(f("stdin.kind"));
  s.strOrNull(r.reason, f("reason"));
  s.str(r.policyDigest, f("policyDigest"), HEX64);
  s.arr(r.rules, f("rules"), (v, a) => s.name(v, a));
  const requirements = s.arr(r.requirements, f("requirements"), (v, a) => checkRequirement(s, v, a));
  let previewed: string[] = [];
  if (hasPreviews) {
    const previews = s.arr(r.previews, f("previews"), (v, a) => {
      const p = s.obj(v, a, ["rule", "argv", "exitCode", "output", "truncated"]);
      const rule = s.name(p.rule, join(a, "rule"));
      // One preview per requirement that asks for one, and only for those.
      if (!requirements.some((q) => q.rule === rule && q.preview !== undefined)) s.fail(join(a, "rule"));
      if (s.arr(p.argv, join(a, "argv"), (e, ea) => s.str(e, ea)).length === 0) s.fail(join(a, "argv"));
      s.int(p.exitCode, join(a, "exitCode"), 0);
      const output = s.str(p.output, join(a, "output"));
      // Invalid bytes decode to U+FFFD (3 bytes each): the stored text is at most three times the cap.
      if (new TextEncoder().encode(output).length > 3 * PREVIEW_MAX_BYTES) s.fail(join(a, "output"));
      s.bool(p.truncated, join(a, "truncated"));
      return rule;
    });
    if (previews.length === 0 || new Set(previews).size !== previews.length) s.fail(f("previews"));
    previewed = previews;
  }
  s.bool(r.breakGlass, f("breakGlass"));
  // Every requirement that asks for a preview has its preview (a break-glass run asks nobody: none).
  const wanted = r.breakGlass === true ? [] : requirements.filter((q) => q.preview !== undefined).map((q) => q.rule);
  if (wanted.length !== previewed.length || wanted.some((w) => !previewed.includes(w))) s.fail(f("previews"));
  const created = Date.parse(s.iso(r.createdAt, f("createdAt")));
  const expires = Date.parse(s.iso(r.expiresAt, f("expiresAt")));
  if (expires <= created) s.fail(f("expiresAt"));
  s.str(r.nonce, f("nonce"), NONCE);
  return x as GuardRequest;
}

/**
 * `files`: at least one entry (none is written as no field), at most MAX_FILES, each naming an argument
 * that exists and a name that argument gives (itself, or what follows its first `=`), without duplicates;
 * a stored text must be exactly the bound content, so an approver never reads other bytes than are bound.
 */
function checkFiles(s: Shape, x: unknown, at: string, argv: readonly string[]): void {
  const files = s.arr(x, at, (v, a) => {
    const type = typeof v === "object" && v !== null ? (v as Record<string, unknown>).type : undefined;
    const hasText = typeof v === "object" && v !== null && Object.prototype.hasOwnProperty.call(v, "text");
    const keys = type === "file" ? ["arg", "name", "path", "type", "size", "sha256", ...(hasText ? ["text"] : [])] : ["arg", "name", "path", "type"];
    const e = s.obj(v, a, keys);
    if (e.type !== "file" && e.type !== "directory" && e.type !== "null") s.fail(join(a, "type"));
    const arg = s.int(e.arg, join(a, "arg"), 1);
    const name = s.nonEmpty(e.name, join(a, "name"));
    const given = argv[arg];
    if (given === undefined || (given !== name && !(given.includes("=") && given.slice(given.indexOf("=") + 1) === name))) s.fail(join(a, "name"));
    const path = s.nonEmpty(e.path, join(a, "path"));
    if (!path.startsWith("/")) s.fail(join(a, "path"));
    if (e.type === "file") {
      const size = s.int(e.size, join(a, "size"), 0);
      const sha = s.str(e.sha256, join(a, "sha256"), HEX64);
      if (hasText && !textMatches(s.str(e.text, join(a, "text")), size, sha)) s.fail(join(a, "text"));
    }
    return `${arg}\u0000${name}`;
  });
  if (files.length === 0 || files.length > MAX_FILES || new Set(files).size !== files.length) s.fail(at);
}

function checkEvidence(s: Shape, x: unknown, at: string): Evidence {
  const e = s.obj(x, at, ["source", "subject", "value", "environment", "detail"]);
  if (typeof e.source !== "string" || !EVIDENCE_SOURCES.has(e.source)) s.fail(join(at, "source"));
  s.str(e.subject, join(at, "subject"));
  s.str(e.value, join(at, "value"));
  s.nameOrNull(e.environment, join(at, "environment"));
  s.str(e.detail, join(at, "detail"));
  return x as Evidence;
}

function checkRequirement(s: Shape, x: unknown, at: string): Requirement {
  const hasPreview = typeof x === "object" && x !== null && Object.prototype.hasOwnProperty.call(x, "preview");
  const r = s.obj(x, at, ["rule", "approvals", "from", "reason", "confirm", "ttlSeconds", ...(hasPreview ? ["preview"] : [])]);
  if (hasPreview) {
    const p = s.obj(r.preview, join(at, "preview"), ["command", "recheck", "timeoutSeconds"]);
    if (s.arr(p.command, join(at, "preview.command"), (v, a) => s.nonEmpty(v, a)).length === 0) s.fail(join(at, "preview.command"));
    s.bool(p.recheck, join(at, "preview.recheck"));
    s.int(p.timeoutSeconds, join(at, "preview.timeoutSeconds"), 1);
  }
  s.name(r.rule, join(at, "rule"));
  s.int(r.approvals, join(at, "approvals"), 1);
  if (r.from !== null) s.arr(r.from, join(at, "from"), (v, a) => s.name(v, a));
  s.bool(r.reason, join(at, "reason"));
  s.bool(r.confirm, join(at, "confirm"));
  s.int(r.ttlSeconds, join(at, "ttlSeconds"), 1);
  return x as Requirement;
}

/**
 * Why a record fails one of the strict checks below (`check` calls it): the check's message, its field
 * already escaped for the terminal; null when it passes. For reports that list every malformed record
 * (`audit verify`) instead of stopping at the first.
 */
export function shapeProblem(check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (e) {
    if (e instanceof GuardError) return e.message;
    throw e;
  }
}

/** A stored signed request: the request plus a non-empty armored signature. */
export function validateSignedRequestShape(x: unknown): SignedRequest {
  const s = new Shape("request");
  const r = s.obj(x, "", ["request", "signature"]);
  checkRequest(s, r.request, "request");
  s.nonEmpty(r.signature, "signature");
  return x as SignedRequest;
}

/** A stored signed approval (approve, deny or acknowledge); throws 65 "approval record is malformed: <field>". */
export function validateApprovalShape(x: unknown): SignedApproval {
  const s = new Shape("approval");
  const r = s.obj(x, "", ["statement", "signature"]);
  const st = s.obj(r.statement, "statement", ["v", "requestId", "requestDigest", "decision", "principal", "fingerprint", "comment", "createdAt", "nonce"]);
  if (st.v !== 1) s.fail("statement.v");
  s.str(st.requestId, "statement.requestId");
  if (!isRequestId(st.requestId)) s.fail("statement.requestId");
  s.str(st.requestDigest, "statement.requestDigest", HEX64);
  if (st.decision !== "approve" && st.decision !== "deny" && st.decision !== "acknowledge") s.fail("statement.decision");
  s.name(st.principal, "statement.principal");
  s.str(st.fingerprint, "statement.fingerprint", FINGERPRINT);
  s.strOrNull(st.comment, "statement.comment");
  s.iso(st.createdAt, "statement.createdAt");
  s.str(st.nonce, "statement.nonce", NONCE);
  s.nonEmpty(r.signature, "signature");
  return x as SignedApproval;
}

/** A stored consumption record; throws 65 "consumption record is malformed: <field>". */
export function validateConsumptionShape(x: unknown): Consumption {
  const s = new Shape("consumption");
  const r = s.obj(x, "", ["requestId", "requestDigest", "consumedAt", "by", "host", "pid"]);
  s.str(r.requestId, "requestId");
  if (!isRequestId(r.requestId)) s.fail("requestId");
  s.str(r.requestDigest, "requestDigest", HEX64);
  s.iso(r.consumedAt, "consumedAt");
  const by = s.obj(r.by, "by", ["principal", "fingerprint"]);
  s.nameOrNull(by.principal, "by.principal");
  s.str(by.fingerprint, "by.fingerprint", FINGERPRINT);
  s.str(r.host, "host");
  s.int(r.pid, "pid", 0);
  return x as Consumption;
}
