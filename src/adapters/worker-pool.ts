/**
 * The worker threads of a parallel `guard audit verify`: one pool, whatever the work (the audit log's line
 * checks, store/audit-parallel.ts; the records' signatures, signature-parallel.ts). Every worker runs
 * dist/audit-worker.cjs, which serves only in a thread started with its tag in workerData
 * (store/audit-worker.ts). A worker announces itself once its module is serving; then each job
 * `{id, job}` gets one reply, `{id, answer}` or `{id, error}`. Jobs go to the workers in turn.
 */
import { dirname, join } from "node:path";
import { parentPort, Worker } from "node:worker_threads";

/** A worker's first message: its module did load in it and is serving. */
const READY = "ready";

type Reply<A> = { id: number; answer: A } | { id: number; error: string };

/**
 * The directory of the bundle this code runs from (dist/), where the worker's file lies; null when it runs
 * from the TypeScript sources (the unit tests), which have no worker file.
 */
export const bundleDir = typeof __filename === "string" && __filename.endsWith(".cjs") ? dirname(__filename) : null;

/**
 * Worker side: answer every job with `work`, whose `transfer` list (an answer's buffers) is moved, not
 * copied; a job that throws is answered with its message.
 */
export function serveJobs<J, A>(work: (job: J) => { answer: A; transfer?: ArrayBuffer[] }): void {
  const port = parentPort!;
  port.postMessage(READY);
  port.on("message", ({ id, job }: { id: number; job: J }) => {
    try {
      const { answer, transfer } = work(job);
      port.postMessage({ id, answer } satisfies Reply<A>, transfer ?? []);
    } catch (e) {
      port.postMessage({ id, error: e instanceof Error ? e.message : String(e) } satisfies Reply<A>);
    }
  });
}

export interface WorkerPool<J, A> {
  /** How many workers. */
  readonly size: number;
  /**
   * The answer to `job` from the next worker in turn. Rejected when that worker reports an error, or when
   * any worker failed or stopped (the pool is then unusable). A rejection nobody awaits yet is no
   * unhandled one: callers keep several jobs in flight and await them in order.
   */
  run(job: J): Promise<A>;
  close(): Promise<void>;
}

/**
 * `n` workers of dist/audit-worker.cjs tagged `tag`, each ready to serve; null when none could be started
 * or one failed or stopped before it was ready (the caller then does the work in its own thread).
 */
export async function startWorkerPool<J, A>(dir: string, tag: string, n: number): Promise<WorkerPool<J, A> | null> {
  const workers: Worker[] = [];
  const waiting = new Map<number, { resolve: (a: A) => void; reject: (e: Error) => void }>();
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
      w = new Worker(join(dir, "audit-worker.cjs"), { workerData: { tag } });
    } catch {
      break;
    }
    workers.push(w);
    let ready: (ok: boolean) => void = () => undefined;
    online.push(new Promise<boolean>((resolve) => (ready = resolve)));
    w.on("message", (reply: Reply<A> | typeof READY) => {
      if (reply === READY) return ready(true);
      const p = waiting.get(reply.id);
      if (!p) return;
      waiting.delete(reply.id);
      if ("error" in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.answer);
    });
    // A worker that fails or ends before it is ready (its module did not start serving) means no pool.
    w.once("error", (e) => {
      ready(false);
      fail(e instanceof Error ? e : new Error(String(e)));
    });
    w.once("exit", (code) => {
      ready(false);
      fail(new Error(`a worker thread stopped (exit code ${code})`));
    });
  }
  const terminate = (): Promise<unknown> => Promise.all(workers.map((w) => w.terminate()));
  if (workers.length === 0 || !(await Promise.all(online)).every(Boolean)) {
    await terminate();
    return null;
  }
  let next = 0;
  let closed = false;
  return {
    size: workers.length,
    run(job) {
      if (failure) return Promise.reject(failure);
      const id = next++;
      const w = workers[id % workers.length]!;
      const p = new Promise<A>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        w.postMessage({ id, job });
      });
      p.catch(() => undefined);
      return p;
    },
    async close() {
      if (closed) return;
      closed = true;
      failure ??= new Error("the pool is closed");
      await terminate();
    },
  };
}
