/**
 * node:child_process, loaded where guard first starts a process rather than with guard's code: a command
 * that starts none (`guard check`, a refused or replayed run, `guard requests`) does not load it (nor
 * node:net, which it brings, unless a pipe for stdout does). On Node 24 that was ~1.9 ms of a warm
 * `guard check` by its profile, and 0.5–1.3 ms of its wall time in interleaved runs. `process.getBuiltinModule`
 * is Node's own synchronous way to load a built-in module at the point of use (Node ≥ 20.16).
 */
export function childProcess(): typeof import("node:child_process") {
  return process.getBuiltinModule("node:child_process");
}
