import type { RegexCompiler } from "../core/linear-regex.js";
import { childProcess } from "./child-process.js";
import { judgeIdentity, probesFor, type ProbeAnswer } from "../core/identity.js";
import type { Detection, IdentityProbe, Policy } from "../core/types.js";

/** What a probe may print; more is cut off (the answer is an identifier, not a report). */
export const PROBE_OUTPUT_CAP = 4096;

/**
 * Run one identity probe: the invocation's environment and working directory, no stdin, its own process
 * group (so a timeout kills `sh -c psql …` whole), output capped and trimmed. A non-zero exit, a spawn
 * error or a timeout is a failed answer.
 */
export function runProbe(probe: IdentityProbe, env: Readonly<Record<string, string | undefined>>, cwd: string): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
    const [file, ...args] = probe.command;
    let child;
    try {
      child = childProcess().spawn(file as string, args, { cwd, env: clean, stdio: ["ignore", "pipe", "pipe"], detached: true });
    } catch (err) {
      resolve({ ok: false, error: `could not start (${(err as Error).message})` });
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = "";
    let settled = false;
    const finish = (a: ProbeAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      finish({ ok: false, error: `timed out after ${probe.timeoutSeconds}s` });
    }, probe.timeoutSeconds * 1000);
    child.stdout.on("data", (d: Buffer) => {
      if (outBytes >= PROBE_OUTPUT_CAP) return;
      out.push(d.subarray(0, PROBE_OUTPUT_CAP - outBytes));
      outBytes += Math.min(d.length, PROBE_OUTPUT_CAP - outBytes);
    });
    child.stderr.on("data", (d: Buffer) => {
      if (err.length < 300) err += d.toString("utf8");
    });
    child.on("error", (e) => finish({ ok: false, error: `could not start (${e.message})` }));
    child.on("close", (code, signal) => {
      if (code === 0) finish({ ok: true, output: Buffer.concat(out).toString("utf8").trim() });
      else {
        const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        const said = err.trim().split("\n")[0]?.slice(0, 200);
        finish({ ok: false, error: said ? `${why}: ${said}` : why });
      }
    });
  });
}

/** The detected environment's probes, all at once; the detection with their answers judged. */
export async function probeTarget(
  policy: Policy,
  detection: Detection,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  regex?: RegexCompiler,
): Promise<Detection> {
  const probes = probesFor(policy, detection);
  if (probes.length === 0) return detection;
  const answers = await Promise.all(probes.map((p) => runProbe(p, env, cwd)));
  return judgeIdentity(policy, detection, answers, regex);
}
