/**
 * The shared vocabulary of the pure core. Nothing here touches files, processes, clocks or the
 * environment: adapters gather these values and pass them in.
 */
import type { RegexCompiler } from "./linear-regex.js";
import type { BoundFile } from "./file-args.js";
export type { BoundFile };

// ---------------------------------------------------------------------------------------------
// Policy (validated, normalised form; the YAML field names are in src/core/policy/schema.ts)
// ---------------------------------------------------------------------------------------------

/** Where a policy element was defined, for messages. */
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

/** How a detector compares a value. `glob` is case-insensitive; `equals` is exact; `regex` is anchored by the author. */
export type ValueMatcher =
  | { kind: "glob"; pattern: string }
  | { kind: "equals"; value: string }
  | { kind: "regex"; pattern: string };

/**
 * The detector kinds' own fields, by `type`. Each module of src/core/detectors adds its kind here (TypeScript
 * declaration merging), so a new kind is one file: `interface DetectorShapes { host: { pattern: string } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DetectorShapes {}

/** One detector of an environment: its kind's `type`, that kind's fields, and where the policy defined it. */
export type Detector = { [T in keyof DetectorShapes]: { type: T; at?: SourceLocation } & DetectorShapes[T] }[keyof DetectorShapes];

/**
 * What a policy test case (and `simulate`) gives in place of what the adapters read: the detector kinds
 * that need one add their field here (declaration merging), e.g. `kubeContext?: string`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SimulatedInputs {}

export interface Environment {
  name: string;
  /** Free text from the policy, shown by `guard check`. */
  description?: string;
  protected: boolean;
  aliases: string[];
  detect: Detector[];
  /** The target's own answers to "who are you?", asked of the detected environment before anything runs. */
  identity?: IdentityProbe[];
  /** Credentials minted for each permitted run in this environment, given to that child alone. */
  credentials?: Credentials;
  at?: SourceLocation;
}

/** One identity probe: a command whose trimmed output must match. */
export interface IdentityProbe {
  command: string[];
  matcher: ValueMatcher;
  timeoutSeconds: number;
  at?: SourceLocation;
}

/** Where guard reads a secret of its own (never passed to a child): a variable of guard's environment, or a file. */
export type SecretSource = { kind: "env"; name: string } | { kind: "file"; path: string };

/**
 * `credentials:` of an environment. postgres: a login role per run, member of `grant`, exported as a URL
 * in `export`, VALID UNTIL now()+ttl. command: `run` prints {"env": {...}, "expires": ISO}; `revoke`
 * receives the same JSON on stdin after the run.
 */
export type Credentials =
  | { type: "postgres"; admin: SecretSource; grant: string[]; export: string; ttlSeconds: number }
  | { type: "command"; run: string[]; revoke: string[] | null; timeoutSeconds: number };

export interface PublicKey {
  /** e.g. "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa". */
  type: string;
  /** The key blob, base64, exactly as in the authorized_keys line. */
  blob: string;
  /** OpenSSH fingerprint "SHA256:…" (unpadded base64). */
  fingerprint: string;
  comment?: string;
}

export interface Principal {
  /** ASCII identifier [a-z0-9][a-z0-9._-]*. */
  name: string;
  keys: PublicKey[];
  groups: string[];
  at?: SourceLocation;
}

export interface RuleMatch {
  /** Canonical environment names; undefined = any. */
  environments?: string[];
  /** Command globs; undefined = any. */
  commands?: string[];
  /** Argument globs; each must match at least one argument. */
  args?: string[];
}

/** `require.preview`: a dry run attached to the request and shown to approvers (issue 14). */
export interface PreviewSpec {
  /** argv; an element exactly "{program}" is the resolved program, "{args}" the run's arguments, each its own element. */
  command: string[];
  /** Run it again just before exec, before consuming the approval; refuse (77) when its output changed. */
  recheck: boolean;
  timeoutSeconds: number;
}

/** A preview as it ran when the request was made: stored in the signed request. */
export interface PreviewResult {
  /** The rule whose `require.preview` it is. */
  rule: string;
  /** The command as run (placeholders expanded). */
  argv: string[];
  exitCode: number;
  /** stdout then stderr, as UTF-8 (invalid bytes replaced), at most PREVIEW_MAX_BYTES of the output. */
  output: string;
  /** Whether the output was cut at PREVIEW_MAX_BYTES. */
  truncated: boolean;
}

export interface Requirement {
  /** The rule that asked for it. */
  rule: string;
  /** Distinct principals, other than the requester. ≥ 1. */
  approvals: number;
  /** Groups the approvers must belong to; null = any principal. */
  from: string[] | null;
  reason: boolean;
  confirm: boolean;
  /** Lifetime of the request and its approvals, seconds. */
  ttlSeconds: number;
  /** Absent when the rule asks for no preview (requirements keep the shape they always had). */
  preview?: PreviewSpec;
}

export type RuleEffect =
  | { type: "allow" }
  | { type: "deny"; message: string }
  | { type: "require"; approvals: number; from: string[] | null; reason: boolean; confirm: boolean; ttlSeconds: number; preview?: PreviewSpec };

export interface Rule {
  name: string;
  description?: string;
  match: RuleMatch;
  effect: RuleEffect;
  at?: SourceLocation;
}

export interface Freeze {
  name: string;
  environments: string[];
  /** Epoch milliseconds. */
  from: number;
  until: number;
  reason: string;
  at?: SourceLocation;
}

export interface BreakGlass {
  environments: string[];
  groups: string[];
}

/** The events a policy's webhooks can be told about (`notifications.webhooks[].events`). */
export const NOTIFY_EVENTS = ["request.created", "request.approved", "request.denied", "run.started", "run.finished", "breakglass.used"] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** One webhook from `notifications.webhooks`; defaults already applied. */
export interface Webhook {
  name: string;
  /** https, or http to a loopback host; may hold a secret (userinfo, path, query): never print it. */
  url: string;
  format: "json" | "slack";
  /** Events it is sent; all of them when the policy does not say. */
  events: NotifyEvent[];
  /** Canonical environment names it is limited to; null = any. */
  environments: string[] | null;
  timeoutSeconds: number;
  at?: SourceLocation;
}

export interface Notifications {
  webhooks: Webhook[];
}

export interface Policy {
  version: 1;
  environments: Record<string, Environment>;
  defaultEnvironment?: string;
  principals: Record<string, Principal>;
  rules: Rule[];
  freezes: Freeze[];
  breakGlass?: BreakGlass;
  /** Extra environment variable names (or globs such as "VAULT_*") to bind into approvals. */
  bindEnv: string[];
  /** Webhooks to call on requests, approvals and runs; absent when the policy names none. */
  notifications?: Notifications;
  /** The directory that holds the policy directory: command globs with a '/' are relative to it. */
  root: string;
  /** SHA-256 (hex) of what decides (policy/digest.ts: the model without descriptions, locations, root): what requests bind. */
  digest: string;
}

// ---------------------------------------------------------------------------------------------
// Invocation and target detection
// ---------------------------------------------------------------------------------------------

/** What the adapters found out about the program that would run. */
export interface ResolvedProgram {
  /** argv[0] as typed. */
  given: string;
  /** Absolute real path (PATH lookup, `..` and symlinks resolved). */
  path: string;
  /** Path relative to the policy root with '/' separators, or null when outside it. */
  relativeToRoot: string | null;
  /** Base name of the real path. */
  base: string;
  /** Base name of argv[0] as typed (a symlink named `psql` to a wrapper still reads as `psql` here). */
  givenBase: string;
  /**
   * When the path found for argv[0] passes through symbolic links: that path, which is what guard hands
   * to execve (a multi-call program such as pg_wrapper or busybox picks its tool by it), and every link
   * on the way. Absent when the path found is the real path.
   */
  via?: ProgramVia;
}

/** One symbolic link met while the kernel would resolve the program's path. */
export interface ProgramLink {
  /** Where the link is (absolute, its directories already resolved). */
  path: string;
  /** The link's content, as readlink returns it. */
  target: string;
}

/** The program's path as found on PATH (or as given) and the links from it to the real file. */
export interface ProgramVia {
  path: string;
  links: ProgramLink[];
}

/** One pg_service.conf as read by the adapter, in libpq's lookup order (missing files left out). */
export interface PgServiceFile {
  path: string;
  text?: string;
  /** When the file exists but could not be read (detection then fails closed). */
  error?: string;
}

/** One kubeconfig file as read by the adapter, in KUBECONFIG order. */
export interface KubeconfigFile {
  path: string;
  /** current-context set in that file, if any. */
  currentContext?: string;
  /** When the file exists but could not be parsed: the problem (detection then fails closed). */
  error?: string;
}

export interface DetectionInput {
  /** Command arguments after argv[0]. */
  args: string[];
  env: Readonly<Record<string, string | undefined>>;
  host: string;
  /** kubeconfig files the adapter read (KUBECONFIG list, or `--kubeconfig` from args, or ~/.kube/config). */
  kubeconfigs: KubeconfigFile[];
  /** `--env` as the user declared it (raw, unvalidated). */
  declared?: string;
  /** The linear-time (RE2) regex engine; needed only when the policy has detector regexes (policyUsesRegex). */
  regex?: RegexCompiler;
  /**
   * The names of the program that runs: the base name of its real path and the name as typed (a PostgreSQL
   * client's or `aws`'s own arguments are read as that client reads them).
   */
  program?: string[];
  /** The pg_service.conf files libpq would read, when a service is named (PGSERVICE or `service=`). */
  pgServiceFiles?: PgServiceFile[];
}

/** One piece of evidence: a source that said something about the target. */
export interface Evidence {
  /** "declared" (--env), a detector kind's type (src/core/detectors), "default" (default_environment), "identity" (a probe). */
  source: "declared" | Detector["type"] | "default" | "identity";
  /** What was looked at: variable name, flag, kubeconfig path, "hostname". */
  subject: string;
  /** The value seen (secrets redacted by the adapter/detector). */
  value: string;
  /** Environment it points to, or null when it points nowhere known (which fails closed). */
  environment: string | null;
  /** Human explanation, e.g. `DATABASE_URL matches "*prod-db.*"`. */
  detail: string;
}

export interface Detection {
  /** The single environment everything agrees on, or null. */
  environment: string | null;
  evidence: Evidence[];
  /** Why the target is refused (conflicts, ambiguity, undetermined); empty when determined. */
  problems: string[];
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

export type DecisionKind = "allow" | "deny" | "approval";

export interface Decision {
  decision: DecisionKind;
  environment: string | null;
  protected: boolean;
  evidence: Evidence[];
  /** Names of all matching rules, in policy order. */
  rules: string[];
  /** Every matching `require` (all must be met). */
  requirements: Requirement[];
  /** Why it is denied (deny rules, freezes, target problems, fail-closed). */
  reasons: string[];
  /** Active freezes that apply. */
  freezes: string[];
  /** Whether break-glass could be used for this target. */
  breakGlassAvailable: boolean;
}

// ---------------------------------------------------------------------------------------------
// Requests, approvals, consumption
// ---------------------------------------------------------------------------------------------

export interface BoundVariable {
  /** SHA-256 hex of the value, or null when unset. */
  sha256: string | null;
  /** What the approver is shown (secrets redacted); null when unset. */
  shown: string | null;
}

export interface StdinBinding {
  /** "tty", "null" (/dev/null or closed), or refused kinds never get here. */
  kind: "tty" | "null";
}

/** The canonical description of one intended run: what the requester signs and approvers approve. */
export interface GuardRequest {
  v: 1;
  id: string;
  requester: { principal: string | null; fingerprint: string; key: string };
  argv: string[];
  /**
   * The real file and its content; its path relative to the policy root ('/' separators; null when
   * outside it), which path globs in rules are matched against (absent in requests made before it was
   * bound: the policy root then decides it); and `via` only when it is reached through symbolic links
   * (absent, not null, otherwise: requests for programs without links keep the shape they always had).
   */
  program: { path: string; sha256: string; relative?: string | null; via?: ProgramVia };
  /**
   * The arguments that named a file, directory or /dev/null when the request was made (src/core/file-args.ts).
   * Absent when none did (and in requests made before file arguments were bound): the shape stays the same.
   */
  files?: BoundFile[];
  /** The previews the requirements asked for, as they ran when the request was made; absent when none. */
  previews?: PreviewResult[];
  cwd: string;
  environment: { name: string; protected: boolean; evidence: Evidence[] };
  env: Record<string, BoundVariable>;
  stdin: StdinBinding;
  reason: string | null;
  policyDigest: string;
  rules: string[];
  requirements: Requirement[];
  breakGlass: boolean;
  /** ISO 8601 UTC. */
  createdAt: string;
  expiresAt: string;
  nonce: string;
}

/** A request with the requester's SSHSIG signature over canonicalJson(request). */
export interface SignedRequest {
  request: GuardRequest;
  /** Armored SSHSIG, namespace SIG_NAMESPACE.request. */
  signature: string;
}

export interface ApprovalStatement {
  v: 1;
  requestId: string;
  /** SHA-256 hex of canonicalJson(request): binds everything the request binds. */
  requestDigest: string;
  /** "acknowledge" is a second person's review of a break-glass run. */
  decision: "approve" | "deny" | "acknowledge";
  /** The principal the approver claims to be (checked against the current policy's keys). */
  principal: string;
  fingerprint: string;
  comment: string | null;
  createdAt: string;
  nonce: string;
}

export interface SignedApproval {
  statement: ApprovalStatement;
  /** Armored SSHSIG, namespace SIG_NAMESPACE.approval, over canonicalJson(statement). */
  signature: string;
}

export interface Consumption {
  requestId: string;
  requestDigest: string;
  /** ISO time by the store's clock. */
  consumedAt: string;
  by: { principal: string | null; fingerprint: string };
  host: string;
  pid: number;
}

/**
 * `void`: made under another policy than the one in force; its approvals no longer count and it can
 * never run (make a new request).
 */
export type RequestStatus = "pending" | "approved" | "denied" | "consumed" | "expired" | "void";

export const SIG_NAMESPACE = {
  request: "request@access-guard",
  approval: "approval@access-guard",
  audit: "audit@access-guard",
} as const;

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

export interface AuditActor {
  principal: string | null;
  fingerprint: string | null;
  /** Local user name, informational only (never used for identity). */
  user?: string;
}

/** An event before the store assigns its place in the chain. */
export interface AuditDraft {
  type: string;
  actor: AuditActor;
  data: Record<string, unknown>;
}

export interface AuditEvent extends AuditDraft {
  seq: number;
  /** ISO time by the store's clock. */
  time: string;
  /** Hash of the previous event ("0"*64 for the first). */
  prev: string;
  /** SHA-256 hex over canonicalJson({seq,time,type,actor,data,prev}). */
  hash: string;
}
