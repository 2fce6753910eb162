/**
 * Why a stored value is not a record of its kind, or null: the checks every store applies. A record that
 * fails them is refused on the way in (a bug in the caller, 70) and reported on the way out (65).
 * Signatures are not the store's business: the commands verify everything they read.
 */
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isTime = (v: unknown): v is string => isStr(v) && Number.isFinite(Date.parse(v));

export function requestProblem(v: unknown, id: string): string | null {
  if (!isObj(v) || !isObj(v.request)) return "no request object";
  const r = v.request;
  if (r.v !== 1) return "unsupported version";
  if (r.id !== id) return `its id ${JSON.stringify(r.id)} does not match ${id}`;
  if (!isStr(v.signature)) return "no signature";
  if (!Array.isArray(r.argv) || !r.argv.every(isStr)) return "argv is not a list of strings";
  if (!isObj(r.requester) || !isObj(r.program) || !isObj(r.environment) || !isObj(r.env) || !isObj(r.stdin)) return "missing request fields";
  if (!Array.isArray(r.rules) || !Array.isArray(r.requirements)) return "missing rules or requirements";
  for (const k of ["cwd", "policyDigest", "nonce"]) if (!isStr(r[k])) return `${k} is not a string`;
  for (const k of ["createdAt", "expiresAt"]) if (!isTime(r[k])) return `${k} is not a time`;
  return null;
}

export function approvalProblem(v: unknown, requestId: string): string | null {
  if (!isObj(v) || !isObj(v.statement)) return "no statement object";
  const st = v.statement;
  if (st.v !== 1) return "unsupported version";
  if (st.requestId !== requestId) return `it is for request ${JSON.stringify(st.requestId)}, not ${requestId}`;
  if (!isStr(v.signature)) return "no signature";
  if (st.decision !== "approve" && st.decision !== "deny" && st.decision !== "acknowledge") return "unknown decision";
  for (const k of ["requestDigest", "principal", "fingerprint", "createdAt", "nonce"]) if (!isStr(st[k])) return `${k} is not a string`;
  return null;
}

export function consumptionProblem(v: unknown, requestId: string): string | null {
  if (!isObj(v)) return "not an object";
  if (v.requestId !== requestId) return `it is for request ${JSON.stringify(v.requestId)}, not ${requestId}`;
  if (!isStr(v.requestDigest) || !isStr(v.consumedAt) || !isStr(v.host)) return "missing fields";
  if (!isObj(v.by) || !isStr(v.by.fingerprint)) return "no consumer";
  if (typeof v.pid !== "number") return "pid is not a number";
  return null;
}
