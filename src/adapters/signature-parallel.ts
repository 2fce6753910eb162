/**
 * `guard audit verify` of a long history: the signatures of stored requests and approvals (Ed25519
 * verifications, canonical forms and digests: most of the records' cost) checked in worker threads,
 * batch by batch, while this thread reads the next records. A worker runs the very function this
 * thread would (core/record-signatures.ts checkSignatures), so the answers are the same; the caller
 * applies them in its own order. The workers run dist/audit-worker.cjs (audit-worker.ts), which serves
 * these checks only in a thread started for them (tagged in workerData).
 */
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { parentPort, Worker } from "node:worker_threads";
import { checkSignatures, type SignatureAnswers, type SignatureBatch } from "../core/record-signatures.js";
import { ExitCode, GuardError } from "../core/errors.js";

/** The workerData tag a worker checks before serving signature checks. */
export const SIGNATURE_WORKER_TAG = "access-guard/signature-parallel";
const MAX_WORKERS = 4;
const READY = "ready";

interface Job {
  id: number;
  batch: SignatureBatch;
}
type Reply = { id: number; answers: SignatureAnswers } | { id: number; error: string };

/** Worker side. */
export function serveSignatureChecks(): void {
  const port = parentPort!;
  port.postMessage(READY);
  port.on("message", (job: Job) => {
    try {
      const answers = checkSignatures(job.batch);
      port.postMessage({ id: job.id, answers } satisfies Reply, [answers.requestsOk.buffer as ArrayBuffer, answers.approvalsOk.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies Reply);
    }
  });
}

/** Where the worker's file lies: beside the bundle this code runs from; null from TypeScript sources. */
const bundleDir = typeof __filename === "string" && __filename.endsWith(".cjs") ? dirname(__filename) : null;

export interface SignaturePool {
  /** How many workers: the caller keeps about two batches in flight per worker. */
  readonly size: number;
  check(batch: SignatureBatch): Promise<SignatureAnswers>;
  close(): Promise<void>;
}

/**
 * Worker threads for signature checks, or null when there is no use in them (one core) or they cannot
 * be started (running from the TypeScript sources); the caller then checks in its own thread.
 */
export async function startSignaturePool(): Promise<SignaturePool | null> {
  const cores = availableParallelism();
  if (cores < 2 || bundleDir === null) return null;
  const n = Math.min(cores, MAX_WORKERS);
  const workers: Worker[] = [];
  const waiting = new Map<number, { resolve: (r: SignatureAnswers) => void; reject: (e: Error) => void }>();
  let failure: Error | null = null;
  const fail = (e: Error): void => {
    failure ??= e;
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  const online: Array<Promise<boolean>> = [];
  for (let i = 0; i < n; i++) {
    let w: Worker;
    try {
      w = new Worker(join(bundleDir, "audit-worker.cjs"), { workerData: { tag: SIGNATURE_WORKER_TAG } });
    } catch {
      break;
    }
    workers.push(w);
    let ready: (ok: boolean) => void = () => undefined;
    online.push(new Promise<boolean>((resolve) => (ready = resolve)));
    w.on("message", (reply: Reply | typeof READY) => {
      if (reply === READY) return ready(true);
      const p = waiting.get(reply.id);
      if (!p) return;
      waiting.delete(reply.id);
      if ("error" in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.answers);
    });
    w.once("error", (e) => {
      ready(false);
      fail(e instanceof Error ? e : new Error(String(e)));
    });
    w.once("exit", (code) => {
      ready(false);
      fail(new Error(`a worker thread stopped (exit code ${code})`));
    });
  }
  if (workers.length === 0 || !(await Promise.all(online)).every(Boolean)) {
    await Promise.all(workers.map((w) => w.terminate()));
    return null;
  }
  let next = 0;
  let closed = false;
  return {
    size: workers.length,
    check(batch) {
      if (failure) return Promise.reject(internal(failure));
      const id = next++;
      const w = workers[id % workers.length]!;
      const p = new Promise<SignatureAnswers>((resolve, reject) => {
        waiting.set(id, { resolve, reject: (e) => reject(internal(e)) });
        w.postMessage({ id, batch } satisfies Job);
      });
      p.catch(() => undefined); // awaited in turn by the caller; one failing ahead must not go unhandled
      return p;
    },
    async close() {
      if (closed) return;
      closed = true;
      failure ??= new Error("the pool is closed");
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function internal(e: Error): GuardError {
  return new GuardError(ExitCode.INTERNAL, `checking signatures in worker threads failed: ${e.message}`, "This is a bug in guard; nothing was changed. Report it with the output of guard --version.");
}
