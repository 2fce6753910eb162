/**
 * Exit codes (sysexits) and the error type every layer throws. A command prints nothing itself on
 * failure: it throws a GuardError and the single catch in entry.ts renders it, and main.ts exits with its code.
 */
import type { RefusalCode } from "./refusal.js";

export const ExitCode = {
  OK: 0,
  USAGE: 64,
  INTEGRITY: 65,
  INTERNAL: 70,
  IO: 74,
  APPROVAL_NEEDED: 75,
  DENIED: 77,
  CONFIG: 78,
  NOT_EXECUTABLE: 126,
  NOT_FOUND: 127,
  /** A person pressed Ctrl-C at one of guard's questions (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every status guard reports: the `status=` of `guard run`'s last line, `{"guard":{"status"}}` under
 * --json, and `error.code` of the JSON error object. One list: docs/ci.md's table is held to it by
 * test/core/statuses.test.ts. Fields may be added; none is renamed or removed.
 */
export const STATUSES = {
  ran: "the command ran; `exitCode` is its own status (128+N when signal N ended it)",
  "approval-needed": "75: approval needed or pending (the request is kept), or a request expired",
  denied: "77: refused by the policy, a freeze, a conflicting or undetermined target, or a denied, invalid or replayed approval",
  usage: "64: usage error (an unknown option, a missing `--reason` or `--confirm`, an unknown request id…)",
  integrity: "65: the store or the audit log does not verify (tampering)",
  io: "74: the store or the audit log is unavailable",
  "policy-invalid": "78: the policy has errors (each with file:line:col in `diagnostics`)",
  "config-invalid": "78: the configuration or the signing key is invalid or missing",
  "config-pinned": "78: a flag or variable asks for another policy or store than the system configuration pins",
  "untrusted-file": "78: a policy or configuration file others can change (owner or permissions) is refused",
  "not-executable": "126: the command is not executable",
  "not-found": "127: the command (or its interpreter) is not found",
  cancelled: "130: a person pressed Ctrl-C at one of guard's questions; nothing ran",
  internal: "70: a bug in guard; nothing ran",
} as const;
export type Status = keyof typeof STATUSES;

/** A located problem in a policy or configuration file (1-based line and column). */
export interface Diagnostic {
  severity: "error" | "warning";
  /** Stable machine-readable code, e.g. "unknown-field", "duplicate-key". */
  code: string;
  message: string;
  file: string;
  line: number;
  col: number;
  /** What to do next ("did you mean `approvals`?"). */
  hint?: string;
}

export class GuardError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    /** What the person should do next. */
    readonly hint?: string,
    /** Extra lines (evidence, field differences) shown under the message. */
    readonly details: readonly string[] = [],
    /** Stable code for --json output (one of STATUSES). */
    readonly code: Status = codeFor(exitCode),
  ) {
    super(message);
    this.name = "GuardError";
  }

  /** Set once the error has been shown, so the top-level handler only maps it to its exit code. */
  reported = false;

  /** Why a request or run was refused, for its audit event (core/refusal.ts); unset: by exit code. */
  refusal?: RefusalCode;
}

/** Name the refusal code of an error (for its audit event) and return it: `throw because("replay", deniedError(…))`. */
export function because<E extends GuardError>(code: RefusalCode, err: E): E {
  err.refusal = code;
  return err;
}

/** Policy or configuration invalid: exit 78, with every located problem. */
export class PolicyError extends GuardError {
  constructor(
    message: string,
    readonly diagnostics: readonly Diagnostic[],
    hint?: string,
  ) {
    super(ExitCode.CONFIG, message, hint, [], "policy-invalid");
    this.name = "PolicyError";
  }
}

/** No policy directory is configured at all (not an invalid one): `guard whoami` still answers without one. */
export class NoPolicyError extends PolicyError {
  /**
   * The key setting resolved before the policy was found missing (flag, GUARD_KEY or `key:` in the
   * project configuration), so that `guard whoami` shows the key guard would sign with.
   */
  readonly keySetting: { key: string | null; keySource: "flag" | "env" | "config" | "default" };
  constructor(message: string, hint: string, keySetting: NoPolicyError["keySetting"]) {
    super(message, [], hint);
    this.name = "NoPolicyError";
    this.keySetting = keySetting;
  }
}

export const usageError = (message: string, hint?: string): GuardError =>
  new GuardError(ExitCode.USAGE, message, hint, [], "usage");
export const deniedError = (message: string, hint?: string, details: readonly string[] = []): GuardError =>
  new GuardError(ExitCode.DENIED, message, hint, details, "denied");
export const integrityError = (message: string, hint?: string, details: readonly string[] = []): GuardError =>
  new GuardError(ExitCode.INTEGRITY, message, hint, details, "integrity");
export const ioError = (message: string, hint?: string): GuardError => new GuardError(ExitCode.IO, message, hint, [], "io");
export const configError = (message: string, hint?: string): GuardError =>
  new GuardError(ExitCode.CONFIG, message, hint, [], "config-invalid");

function codeFor(exitCode: number): Status {
  switch (exitCode) {
    case ExitCode.USAGE:
      return "usage";
    case ExitCode.INTEGRITY:
      return "integrity";
    case ExitCode.IO:
      return "io";
    case ExitCode.APPROVAL_NEEDED:
      return "approval-needed";
    case ExitCode.DENIED:
      return "denied";
    case ExitCode.CONFIG:
      return "config-invalid";
    case ExitCode.NOT_EXECUTABLE:
      return "not-executable";
    case ExitCode.NOT_FOUND:
      return "not-found";
    case ExitCode.INTERRUPTED:
      return "cancelled";
    default:
      return "internal";
  }
}

/** Format a diagnostic as `file:line:col: severity[code]: message (hint)`. */
export function formatDiagnostic(d: Diagnostic): string {
  const hint = d.hint ? `\n    ${d.hint}` : "";
  return `${d.file}:${d.line}:${d.col}: ${d.severity}[${d.code}]: ${d.message}${hint}`;
}
