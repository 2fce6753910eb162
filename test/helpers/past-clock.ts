/**
 * A preload for `node -r` that moves Node's clock (Date) back `days` days in the guard it is put before:
 * every time guard reads — the file store's clock, createdAt, expiresAt, the audit events' times — is
 * then that old, as if the history had been made then. (libfaketime would leak a variable into the
 * run's bound environment.) Monotonic time stays real: timers behave.
 */
export function pastClockHook(days: number): string {
  return `const OFFSET = -${days} * 86400000;
const Real = Date;
class Shifted extends Real {
  constructor(...a) { if (a.length === 0) super(Real.now() + OFFSET); else super(...a); }
  static now() { return Real.now() + OFFSET; }
}
globalThis.Date = Shifted;
`;
}
