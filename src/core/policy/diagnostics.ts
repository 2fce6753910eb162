import type { Diagnostic } from "../errors.js";
import type { SourceLocation } from "../types.js";

/** A file with thousands of problems is an attack or a wrong file: stop collecting after this many. */
export const MAX_DIAGNOSTICS_PER_FILE = 100;

/** Maps string offsets (as the yaml package reports them) to 1-based line and column. */
export class LineTable {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) this.starts.push(i + 1);
  }
  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }
}

/** Collects the diagnostics of one file, each located by an offset into its text. */
export class FileDiagnostics {
  readonly list: Diagnostic[] = [];
  private full = false;

  constructor(
    readonly file: string,
    private readonly lines: LineTable | null,
  ) {}

  at(offset: number): SourceLocation {
    const { line, col } = this.lines ? this.lines.position(offset) : { line: 1, col: 1 };
    return { file: this.file, line, col };
  }

  error(offset: number, code: string, message: string, hint?: string): void {
    this.add("error", this.at(offset), code, message, hint);
  }

  warn(offset: number, code: string, message: string, hint?: string): void {
    this.add("warning", this.at(offset), code, message, hint);
  }

  /** For problems found before the text could be decoded (byte offsets). */
  errorAt(line: number, col: number, code: string, message: string, hint?: string): void {
    this.add("error", { file: this.file, line, col }, code, message, hint);
  }

  get hasErrors(): boolean {
    return this.list.some((d) => d.severity === "error");
  }

  private add(severity: Diagnostic["severity"], at: SourceLocation, code: string, message: string, hint?: string): void {
    if (this.full) return;
    if (this.list.length >= MAX_DIAGNOSTICS_PER_FILE) {
      this.full = true;
      this.list.push({ severity: "error", code: "too-many-problems", message: `more than ${MAX_DIAGNOSTICS_PER_FILE} problems in this file; the rest are not shown`, file: this.file, line: at.line, col: at.col, hint: "fix the problems above and run `guard policy lint` again" });
      return;
    }
    this.list.push({ severity, code, message, file: this.file, line: at.line, col: at.col, ...(hint ? { hint } : {}) });
  }
}

/** A located diagnostic that is not tied to one file's offsets (cross-file checks). */
export function diagnosticAt(severity: Diagnostic["severity"], at: SourceLocation, code: string, message: string, hint?: string): Diagnostic {
  return { severity, code, message, file: at.file, line: at.line, col: at.col, ...(hint ? { hint } : {}) };
}

/** Sorted by file, line, col (errors before warnings at one place), duplicates removed. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const unique: Diagnostic[] = [];
  for (const d of diagnostics) {
    const key = JSON.stringify([d.file, d.line, d.col, d.severity, d.code, d.message]);
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(d);
  }
  return unique.sort(
    (a, b) =>
      cmp(a.file, b.file) ||
      a.line - b.line ||
      a.col - b.col ||
      cmp(a.severity === "error" ? "0" : "1", b.severity === "error" ? "0" : "1") ||
      cmp(a.code, b.code) ||
      cmp(a.message, b.message),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
