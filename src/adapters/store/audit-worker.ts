/**
 * Entry point of the worker threads of a parallel `guard audit verify` (built as dist/audit-worker.cjs,
 * beside guard.cjs): line checks of the audit log (audit-parallel.ts) or signature checks of the stored
 * records (../signature-parallel.ts), each only in a thread started for it (tagged in workerData).
 */
import { isMainThread, workerData } from "node:worker_threads";
import { AUDIT_WORKER_TAG, serveChecks } from "./audit-parallel.js";
import { SIGNATURE_WORKER_TAG, serveSignatureChecks } from "../signature-parallel.js";

const tag = isMainThread ? undefined : (workerData as { tag?: unknown } | null)?.tag;
if (tag === AUDIT_WORKER_TAG) serveChecks();
else if (tag === SIGNATURE_WORKER_TAG) serveSignatureChecks();
