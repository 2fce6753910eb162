/**
 * What a test file could leave behind in its process for the files after it (vitest.config.ts runs files
 * one after another in each of four processes): test/setup/process-state.ts takes the state before a
 * file's first test and after its last hook, and fails the file when leftBehind names anything.
 *
 * Compared: process.env, the working directory, process.exitCode, listeners on the process (signals,
 * exit, uncaught errors), fake timers, and open sockets, servers, child processes and file watchers.
 * Not compared: pending timers (a library's idle timers end by themselves) and pipes (the first file that
 * reads process.stdin creates it for the rest of the process).
 */

const EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCHLD", "SIGPIPE", "SIGCONT", "SIGTSTP", "exit", "beforeExit", "uncaughtException", "unhandledRejection", "warning"];
/** process.getActiveResourcesInfo()'s names for what a file must end: sockets, servers, children, watchers. */
const RESOURCES = ["TCPSocketWrap", "TCPServerWrap", "PipeServerWrap", "ProcessWrap", "UDPWrap", "FSEventWrap", "StatWatcher", "TTYWrap"];

export interface ProcessState {
  env: Record<string, string | undefined>;
  cwd: string;
  exitCode: string | number | null | undefined;
  listeners: Record<string, number>;
  resources: Record<string, number>;
  fakeTimers: boolean;
}

/** This process's state, as leftBehind compares it. */
export function processState(fakeTimers: boolean): ProcessState {
  const resources: Record<string, number> = Object.fromEntries(RESOURCES.map((r) => [r, 0]));
  for (const r of process.getActiveResourcesInfo()) if (r in resources) resources[r] = (resources[r] ?? 0) + 1;
  return {
    env: { ...process.env },
    cwd: process.cwd(),
    exitCode: process.exitCode,
    listeners: Object.fromEntries(EVENTS.map((e) => [e, process.listenerCount(e)])),
    resources,
    fakeTimers,
  };
}

/** What changed from `before` to `after` that a later file would inherit, one line each. */
export function leftBehind(before: ProcessState, after: ProcessState): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before.env), ...Object.keys(after.env)])) {
    if (before.env[k] !== after.env[k]) out.push(`process.env.${k}: ${JSON.stringify(before.env[k])} → ${JSON.stringify(after.env[k])}`);
  }
  if (before.cwd !== after.cwd) out.push(`the working directory: ${before.cwd} → ${after.cwd}`);
  if (before.exitCode !== after.exitCode) out.push(`process.exitCode: ${String(before.exitCode)} → ${String(after.exitCode)}`);
  for (const e of new Set([...Object.keys(before.listeners), ...Object.keys(after.listeners)])) {
    if ((before.listeners[e] ?? 0) !== (after.listeners[e] ?? 0)) out.push(`listeners for process '${e}': ${before.listeners[e] ?? 0} → ${after.listeners[e] ?? 0}`);
  }
  for (const r of new Set([...Object.keys(before.resources), ...Object.keys(after.resources)])) {
    if ((after.resources[r] ?? 0) > (before.resources[r] ?? 0)) out.push(`open ${r}: ${before.resources[r] ?? 0} → ${after.resources[r] ?? 0}`);
  }
  if (after.fakeTimers && !before.fakeTimers) out.push("fake timers are still on (vi.useRealTimers())");
  return out;
}

/**
 * leftBehind from `before` to now, asked again for up to half a second while anything is left: a socket,
 * server or child ended in a file's last hook is released on the event loop's next turns. Fake timers
 * (which would stop this waiting) are answered at once.
 */
export async function stillLeftBehind(before: ProcessState, fakeTimers: boolean): Promise<string[]> {
  let left = leftBehind(before, processState(fakeTimers));
  for (let i = 0; i < 20 && left.length > 0 && !fakeTimers; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    left = leftBehind(before, processState(false));
  }
  return left;
}
