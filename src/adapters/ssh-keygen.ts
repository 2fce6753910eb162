/** Running ssh-keygen for signing and key reading: one place, a minimal environment, bounded output and time. */
import { childProcess } from "./child-process.js";

export interface SshKeygenResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  notFound: boolean;
}

const MAX_OUTPUT = 1024 * 1024;

/**
 * Run ssh-keygen with a minimal environment. Non-interactive runs get a new session (no controlling
 * terminal, so /dev/tty cannot be opened) and SSH_ASKPASS_REQUIRE=never: a passphrase prompt fails
 * immediately instead of waiting for someone who is not there.
 */
export function runSshKeygen(
  args: readonly string[],
  opts: { env: Readonly<Record<string, string | undefined>>; interactive: boolean; timeoutMs: number; input?: string | Uint8Array },
): Promise<SshKeygenResult> {
  const e = opts.env;
  const env: Record<string, string> = { PATH: e.PATH || "/usr/local/bin:/usr/bin:/bin" };
  const pass = ["HOME", "SSH_AUTH_SOCK", "LANG", "LC_ALL", ...(opts.interactive ? ["DISPLAY", "WAYLAND_DISPLAY", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] : [])];
  for (const name of pass) {
    const v = e[name];
    if (v) env[name] = v;
  }
  if (!opts.interactive) env.SSH_ASKPASS_REQUIRE = "never";

  return new Promise((resolvePromise) => {
    const child = childProcess().spawn("ssh-keygen", [...args], {
      env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: !opts.interactive,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let settled = false;
    const kill = () => {
      if (child.pid === undefined) return;
      try {
        // Detached: the child leads its own process group, so this also ends an askpass it started.
        if (!opts.interactive) process.kill(-child.pid, "SIGKILL");
        else child.kill("SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT) kill();
      else into.push(chunk);
    };
    child.stdout?.on("data", collect(out));
    child.stderr?.on("data", collect(err));
    const finish = (r: Omit<SshKeygenResult, "stdout" | "stderr">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise({ ...r, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    };
    child.on("error", (error: NodeJS.ErrnoException) => finish({ code: null, timedOut, notFound: error.code === "ENOENT" }));
    child.on("close", (code) => finish({ code, timedOut, notFound: false }));
    if (child.stdin) {
      child.stdin.on("error", () => {}); // EPIPE when ssh-keygen exits before reading: its status says why
      child.stdin.end(opts.input);
    }
  });
}
