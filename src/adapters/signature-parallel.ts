/**
 * `guard audit verify` of a long history: the signatures of stored requests and approvals (Ed25519
 * verifications, canonical forms and digests: most of the records' cost) checked in worker threads,
 * batch by batch, while this thread reads the next records. A worker runs the very function this
 * thread would (core/record-signatures.ts checkSignatures), so the answers are the same; the caller
 * applies them in its own order. The workers run dist/audit-worker.cjs (audit-worker.ts), which serves
 * these checks only in a thread started for them (tagged in workerData).
 */
import { availableParallelism } from "node:os";
import { checkSignatures, type SignatureAnswers, type SignatureBatch } from "../core/record-signatures.js";
import { ExitCode, GuardError } from "../core/errors.js";
import { bundleDir, serveJobs, startWorkerPool } from "./worker-pool.js";

/** The workerData tag a worker checks before serving signature checks. */
export const SIGNATURE_WORKER_TAG = "access-guard/signature-parallel";
const MAX_WORKERS = 4;

/** Worker side: the answers' arrays are transferred, not copied. */
export function serveSignatureChecks(): void {
  serveJobs((batch: SignatureBatch) => {
    const answer = checkSignatures(batch);
    return { answer, transfer: [answer.requestsOk.buffer as ArrayBuffer, answer.approvalsOk.buffer as ArrayBuffer] };
  });
}

export interface SignaturePool {
  /** How many workers: the caller keeps about two batches in flight per worker. */
  readonly size: number;
  check(batch: SignatureBatch): Promise<SignatureAnswers>;
  close(): Promise<void>;
}

/**
 * Worker threads for signature checks, or null when there is no use in them (one core) or they cannot
 * be started (running from the TypeScript sources); the caller then checks in its own thread. A worker
 * that fails is an internal error (70).
 */
export async function startSignaturePool(): Promise<SignaturePool | null> {
  const cores = availableParallelism();
  if (cores < 2 || bundleDir === null) return null;
  const pool = await startWorkerPool<SignatureBatch, SignatureAnswers>(bundleDir, SIGNATURE_WORKER_TAG, Math.min(cores, MAX_WORKERS));
  if (pool === null) return null;
  return {
    size: pool.size,
    check(batch) {
      const p = pool.run(batch).catch((e: unknown) => {
        throw internal(e instanceof Error ? e : new Error(String(e)));
      });
      p.catch(() => undefined); // awaited in turn by the caller; one failing ahead must not go unhandled
      return p;
    },
    close: () => pool.close(),
  };
}

function internal(e: Error): GuardError {
  return new GuardError(ExitCode.INTERNAL, `checking signatures in worker threads failed: ${e.message}`, "This is a bug in guard; nothing was changed. Report it with the output of guard --version.");
}
