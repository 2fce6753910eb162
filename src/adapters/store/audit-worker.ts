/**
 * Entry point of the worker threads of a parallel `guard audit verify` (built as dist/audit-worker.cjs,
 * beside guard.cjs). It serves line checks only in a thread that audit-parallel.ts started for it.
 */
import { isMainThread, workerData } from "node:worker_threads";
import { AUDIT_WORKER_TAG, serveChecks } from "./audit-parallel.js";

if (!isMainThread && (workerData as { tag?: unknown } | null)?.tag === AUDIT_WORKER_TAG) serveChecks();
