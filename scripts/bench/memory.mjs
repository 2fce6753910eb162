// Peak memory of `guard run` while the command floods its output. guard passes its stdio to the child
// untouched, so the flood should cost guard nothing: a 10 MB flood and a 2 GB flood must peak alike.
//
// Peak = guard's own VmHWM (not its children's, unlike GNU time's %M): polled from /proc while it runs,
// and read once more by the flood script itself just before it exits, when guard is fully loaded and
// waiting (the script's parent is guard: it execs the script directly).
import { median, vmHwmMb } from "./harness.mjs";

async function floodOnce(guard, env, world, bytes) {
  let polled = 0;
  let timer;
  const result = await guard(["run", "--", "./scripts/flood.sh", String(bytes)], env, {
    cwd: world,
    stdout: "ignore", // /dev/null
    label: `guard run -- flood.sh ${bytes}`,
    onSpawn: (child) => {
      timer = setInterval(() => {
        void vmHwmMb(child.pid).then((mb) => {
          if (mb !== null && mb > polled) polled = mb;
        });
      }, 10);
    },
  }).finally(() => clearInterval(timer));
  const m = /VmHWM:\s+(\d+) kB/.exec(result.stderr);
  if (!m) throw new Error(`flood: the script did not report guard's VmHWM:\n${result.stderr}`);
  return { mb: Math.max(polled, Number(m[1]) / 1024), ms: result.ms };
}

/** Alternating small and large floods, `runs` each; medians in MB, and the large flood's duration. */
export async function measureFlood(guard, env, world, { small, large, runs }) {
  const s = [];
  const l = [];
  const ms = [];
  for (let i = 0; i < runs; i++) {
    s.push((await floodOnce(guard, env, world, small)).mb);
    const big = await floodOnce(guard, env, world, large);
    l.push(big.mb);
    ms.push(big.ms);
  }
  return { smallMb: median(s), largeMb: median(l), largeMs: median(ms) };
}
