// The waiting side of the wake-up benchmark, in its own process (as a waiting `guard run` is): it waits
// for an approval of a request the way guard's approval flow does — watch the request, read, wait with a
// one-second cap, re-read — and reports, on the monotonic clock shared by every process, when it saw the approval.
//
//   node waiter.mjs <bundle url> <store url>     (forked with an IPC channel)
//   parent → {wait: id}       child → {waiting: id}, then {saw: id, at: ms}
const [bundleUrl, storeUrl] = process.argv.slice(2);
const mod = await import(bundleUrl);
const store = storeUrl.startsWith("postgres") ? await mod.openPostgresStore(storeUrl) : await mod.openFileStore(storeUrl.slice("file:".length));
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function waitFor(id) {
  const watch = await store.watchRequest(id);
  try {
    for (let round = 0; ; round++) {
      if ((await store.listApprovals(id)).length > 0) {
        process.send({ saw: id, at: now(), rounds: round });
        return;
      }
      if (round === 0) process.send({ waiting: id });
      await watch.wait(1000);
    }
  } finally {
    watch.close();
  }
}

process.on("message", (msg) => {
  if (msg.wait) {
    waitFor(msg.wait).catch((err) => {
      process.send({ error: err instanceof Error ? err.message : String(err) });
    });
  } else if (msg.exit) {
    void store.close().finally(() => process.exit(0));
  }
});
process.send({ ready: true });
