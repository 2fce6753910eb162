/**
 * Where the policy, the store and the signing key come from, resolved once per invocation:
 * flag, then environment variable, then the nearest `guard.config.yaml` upward from the working
 * directory, then the system configuration (when it does not pin), then the default. A system
 * configuration that pins (the default when it exists) wins over everything, and a flag or variable
 * that tries to point elsewhere is refused (exit 78) rather than silently ignored: on a bastion the
 * pinned policy is the control, and a user must learn that their override did not apply.
 *
 * This runs on every command, so it reads at most a few small files and never loads the yaml package.
 */
// Synchronous reads: a handful of small files on the start-up path (see policy-files.ts).
import { closeSync, realpathSync, statSync, type Stats } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ExitCode, GuardError, NoPolicyError, PolicyError, usageError, type Diagnostic } from "../core/errors.js";
import { defaultPolicyCacheDir } from "./policy-cache.js";
import { openRegular, readOpened } from "./regular-file.js";
import { MAX_CONFIG_BYTES, parseConfigText, type ConfigFieldType } from "../core/policy/config-text.js";

export const SYSTEM_CONFIG_PATH = "/etc/access-guard/config.yaml";
export const PROJECT_CONFIG_NAME = "guard.config.yaml";

export type PolicySource = "flag" | "env" | "config" | "system";
export type StoreSource = "flag" | "env" | "config" | "system" | "default";
export type KeySettingSource = "flag" | "env" | "config" | "default";

export interface Settings {
  /** Absolute path of the policy directory. */
  policyDir: string;
  policySource: PolicySource;
  /** `file:/absolute/path`, or a postgres:// URL as given. */
  store: string;
  storeSource: StoreSource;
  /** The key setting (flag, GUARD_KEY or `key:`), or null: then the signer looks in ~/.ssh. */
  key: string | null;
  keySource: KeySettingSource;
  /** The guard.config.yaml that was read, if any. */
  configFile: string | null;
  /** The system configuration, when one exists. */
  systemConfig: string | null;
  /** Which settings the system configuration fixes. */
  pinned: { policy: boolean; store: boolean };
  /**
   * `run_as:` of the system configuration (never from a flag, a variable or guard.config.yaml): with
   * "invoking-user", guard started by root through sudo runs the command as the person who invoked sudo
   * (src/adapters/run-as.ts). Null when unset.
   */
  runAs: "invoking-user" | null;
  /** "pinned" when the system configuration fixes the policy or the store; else "guardrail". */
  mode: "guardrail" | "pinned";
  /**
   * Where validated policies may be cached (pass to loadPolicyDir), or null: never when the policy is
   * pinned, because whoever writes the cache could choose the policy.
   */
  policyCache: string | null;
  /**
   * `retention:` (a duration, e.g. 90d): how old finished history must be for `guard store prune`
   * without --older-than. The system configuration's wins over guard.config.yaml's; null when neither sets it.
   */
  retention: string | null;
}

export interface ResolveOptions {
  flags: { policy?: string; store?: string; key?: string };
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Default /etc/access-guard/config.yaml; tests point it elsewhere. */
  systemConfigPath?: string;
}

const PROJECT_FIELDS: Record<string, ConfigFieldType> = { policies: "string", store: "string", key: "string", retention: "string" };
const SYSTEM_FIELDS: Record<string, ConfigFieldType> = { policies: "string", store: "string", pin: "boolean", run_as: "string", retention: "string" };

const NO_POLICY_HINT = "pass --policy, set GUARD_POLICY or add `policies:` to guard.config.yaml (guard init creates one)";

interface ConfigFile {
  path: string;
  dir: string;
  values: Map<string, { value: string | boolean; line: number; col: number }>;
}

export async function resolveSettings(opts: ResolveOptions): Promise<Settings> {
  const { flags, env, cwd } = opts;
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  const systemPath = opts.systemConfigPath ?? SYSTEM_CONFIG_PATH;
  const [system, project] = await Promise.all([readConfig(systemPath, SYSTEM_FIELDS, "system"), findProjectConfig(cwd)]);
  if (system && !system.values.has("policies") && !system.values.has("store")) {
    throw new PolicyError(
      `the system configuration ${systemPath} sets neither \`policies:\` nor \`store:\``,
      [],
      "a system configuration exists to pin the policy and the store: set at least one, or remove the file",
    );
  }
  const pin = system ? system.values.get("pin")?.value !== false : false;
  const runAsField = system?.values.get("run_as");
  if (runAsField !== undefined && runAsField.value !== "invoking-user") {
    throw new PolicyError(
      `the system configuration ${systemPath} sets \`run_as:\` to ${JSON.stringify(runAsField.value)}`,
      [{ severity: "error", code: "invalid-value", message: "`run_as:` must be `invoking-user`", file: systemPath, line: runAsField.line, col: runAsField.col, hint: "write `run_as: invoking-user`, or remove the line" }],
      "the only value is invoking-user (docs/bastion.md)",
    );
  }

  // --- key (before the policy: `guard whoami` shows it even when no policy is configured) ------------
  let key: string | null = null;
  let keySource: KeySettingSource = "default";
  if (flags.key !== undefined) {
    if (flags.key.trim() === "") throw usageError("--key is empty", "pass the path of an SSH key, or leave --key out");
    [key, keySource] = [flags.key, "flag"];
  } else if (env.GUARD_KEY !== undefined) {
    // An empty GUARD_KEY is passed on as set: the signer refuses it with its own message.
    [key, keySource] = [env.GUARD_KEY, "env"];
  } else if (project?.values.has("key")) {
    [key, keySource] = [configPath(project, "key", home) as string, "config"];
  }

  // --- policy -----------------------------------------------------------------------------------
  const flagPolicy = flagValue(flags.policy, "--policy", cwd, home);
  const envPolicy = envValue(env.GUARD_POLICY, "GUARD_POLICY", cwd, home);
  const systemPolicy = system ? configPath(system, "policies", home) : undefined;
  const projectPolicy = project ? configPath(project, "policies", home) : undefined;
  let policyDir: string;
  let policySource: PolicySource;
  const pinnedPolicy = pin && systemPolicy !== undefined;
  if (pinnedPolicy) {
    await refuseOverride("policy directory", systemPolicy, systemPath, [
      [flagPolicy, "--policy"],
      [envPolicy, "GUARD_POLICY"],
    ]);
    [policyDir, policySource] = [systemPolicy, "system"];
  } else if (flagPolicy !== undefined) [policyDir, policySource] = [flagPolicy, "flag"];
  else if (envPolicy !== undefined) [policyDir, policySource] = [envPolicy, "env"];
  else if (projectPolicy !== undefined) [policyDir, policySource] = [projectPolicy, "config"];
  else if (systemPolicy !== undefined) [policyDir, policySource] = [systemPolicy, "system"];
  else {
    const looked = project ? `${project.path} has no \`policies:\`` : `no ${PROJECT_CONFIG_NAME} in ${cwd} or any directory above it`;
    throw new NoPolicyError(`no policy found (${looked})`, NO_POLICY_HINT, { key, keySource });
  }

  // --- store ------------------------------------------------------------------------------------
  const flagStore = storeValue(flags.store, "--store", cwd, home);
  const envStore = storeValue(env.GUARD_STORE, "GUARD_STORE", cwd, home);
  const systemStore = system ? configStore(system, home) : undefined;
  const projectStore = project ? configStore(project, home) : undefined;
  let store: string;
  let storeSource: StoreSource;
  const pinnedStore = pin && systemStore !== undefined;
  if (pinnedStore) {
    refuseStoreOverride(systemStore, systemPath, [
      [flagStore, "--store"],
      [envStore, "GUARD_STORE"],
    ]);
    [store, storeSource] = [systemStore, "system"];
  } else if (flagStore !== undefined) [store, storeSource] = [flagStore, "flag"];
  else if (envStore !== undefined) [store, storeSource] = [envStore, "env"];
  else if (projectStore !== undefined) [store, storeSource] = [projectStore, "config"];
  else if (systemStore !== undefined) [store, storeSource] = [systemStore, "system"];
  else [store, storeSource] = [`file:${join(stateHome(env, home), "access-guard")}`, "default"];

  return {
    policyDir,
    policySource,
    store,
    storeSource,
    key,
    keySource,
    configFile: project?.path ?? null,
    systemConfig: system?.path ?? null,
    pinned: { policy: pinnedPolicy, store: pinnedStore },
    runAs: runAsField ? "invoking-user" : null,
    mode: pinnedPolicy || pinnedStore ? "pinned" : "guardrail",
    policyCache: pinnedPolicy ? null : defaultPolicyCacheDir(env, home),
    retention: retentionOf(system) ?? retentionOf(project),
  };
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

function retentionOf(file: ConfigFile | null): string | null {
  const v = file?.values.get("retention")?.value;
  return typeof v === "string" ? v : null;
}

function expandHome(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return join(home, p.slice(2));
  return p;
}

function flagValue(v: string | undefined, flag: string, cwd: string, home: string): string | undefined {
  if (v === undefined) return undefined;
  if (v.trim() === "") throw usageError(`${flag} is empty`, `pass a directory, or leave ${flag} out`);
  if (v.includes("\0")) throw usageError(`${flag} contains a NUL byte`);
  return resolve(cwd, expandHome(v, home));
}

function envValue(v: string | undefined, name: string, cwd: string, home: string): string | undefined {
  if (v === undefined) return undefined;
  // Set but empty is a mistake (a typo in a CI variable), never "unset": refusing is the safe reading.
  if (v.trim() === "") throw new GuardError(ExitCode.CONFIG, `${name} is set but empty`, `unset ${name} or point it to the policy directory`);
  return resolve(cwd, expandHome(v, home));
}

function configPath(file: ConfigFile, field: string, home: string): string | undefined {
  const v = file.values.get(field)?.value;
  if (typeof v !== "string") return undefined;
  return resolve(file.dir, expandHome(v, home));
}

function configStore(file: ConfigFile, home: string): string | undefined {
  const v = file.values.get("store")?.value;
  if (typeof v !== "string") return undefined;
  return normaliseStore(v, file.dir, home);
}

function storeValue(v: string | undefined, name: string, cwd: string, home: string): string | undefined {
  if (v === undefined) return undefined;
  if (v.trim() === "") {
    if (name.startsWith("--")) throw usageError(`${name} is empty`, "pass file:/path or postgres://…, or leave it out");
    throw new GuardError(ExitCode.CONFIG, `${name} is set but empty`, `unset ${name} or set it to file:/path or postgres://…`);
  }
  return normaliseStore(v, cwd, home);
}

/**
 * Relative `file:` locations and bare paths are made absolute against the directory they were given in
 * (the working directory for flags and variables, the configuration file's directory for `store:`), so
 * that the same setting names the same store from any subdirectory. URLs are passed on untouched; the
 * store adapter validates them.
 */
function normaliseStore(v: string, base: string, home: string): string {
  if (/^file:(?!\/\/)/.test(v)) return `file:${resolve(base, expandHome(v.slice(5), home))}`;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(v)) return v;
  return `file:${resolve(base, expandHome(v, home))}`;
}

/** $XDG_STATE_HOME when it is absolute (the XDG spec says to ignore relative values), else ~/.local/state. */
function stateHome(env: Readonly<Record<string, string | undefined>>, home: string): string {
  const xdg = env.XDG_STATE_HOME;
  return xdg && isAbsolute(xdg) ? xdg : join(home, ".local", "state");
}

async function refuseOverride(what: string, pinned: string, systemPath: string, tries: Array<[string | undefined, string]>): Promise<void> {
  for (const [value, name] of tries) {
    if (value === undefined || value === pinned) continue;
    // The same directory through a symlink is not an override.
    if ((await realpathOrNull(value)) === (await realpathOrNull(pinned)) && (await realpathOrNull(pinned)) !== null) continue;
    throw new GuardError(
      ExitCode.CONFIG,
      `${name} asks for the ${what} ${value}, but the system configuration ${systemPath} pins it to ${pinned}`,
      `remove ${name}: on this machine the ${what} is fixed by ${systemPath}`,
      [],
      "config-pinned",
    );
  }
}

function refuseStoreOverride(pinned: string, systemPath: string, tries: Array<[string | undefined, string]>): void {
  for (const [value, name] of tries) {
    if (value === undefined || value === pinned) continue;
    throw new GuardError(
      ExitCode.CONFIG,
      `${name} asks for the store ${redact(value)}, but the system configuration ${systemPath} pins it to ${redact(pinned)}`,
      `remove ${name}: on this machine the store is fixed by ${systemPath}`,
      [],
      "config-pinned",
    );
  }
}

/** Passwords in postgres:// URLs never reach a message. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

async function realpathOrNull(p: string): Promise<string | null> {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/** The nearest guard.config.yaml from `cwd` upward to the filesystem root. */
async function findProjectConfig(cwd: string): Promise<ConfigFile | null> {
  let dir = resolve(cwd);
  for (;;) {
    const found = await readConfig(join(dir, PROJECT_CONFIG_NAME), PROJECT_FIELDS, "project");
    if (found) return found;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Read and validate one configuration file; null when it does not exist. */
async function readConfig(path: string, fields: Record<string, ConfigFieldType>, kind: "system" | "project"): Promise<ConfigFile | null> {
  // Most of the directories searched have no configuration: answer that without an exception (an
  // ENOENT error costs far more than the lookup). A file that appears or goes meanwhile is handled
  // by the open below as before.
  try {
    if (statSync(path, { throwIfNoEntry: false }) === undefined) return null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOTDIR") return null; // a path through a file
    // anything else: the open below says what
  }
  // Opened without blocking (regular-file.ts): a FIFO planted under the name (in /tmp, above someone's
  // working directory) is refused as not a regular file, never waited on.
  const opened = openRegular(path);
  if ("fail" in opened) {
    if (opened.fail === "missing" || (opened.fail === "error" && opened.error.code === "ENOTDIR")) return null;
    if (opened.fail === "not-regular") throw new GuardError(ExitCode.CONFIG, `the ${kind} configuration ${path} is not a regular file`, "replace it with a file, or remove it");
    const code = opened.fail === "error" ? opened.error.code : undefined;
    throw new GuardError(ExitCode.CONFIG, `cannot read the ${kind} configuration ${path}: ${code ?? String(opened.error)}`, kind === "system" ? "fix its permissions: every user must be able to read it" : "fix its permissions or remove it");
  }
  let bytes: Buffer;
  try {
    assertTrusted(opened.st, path, `the ${kind} configuration`);
    const read = readOpened(opened.fd, opened.st, MAX_CONFIG_BYTES);
    if ("fail" in read) throw new PolicyError(`the ${kind} configuration ${path} is too large (${read.size} bytes)`, [], "a configuration is a few lines of `key: value`");
    bytes = read;
  } finally {
    closeSync(opened.fd);
  }
  const text = decode(bytes, path);
  const parsed = parseConfigText(text, path, fields);
  if (parsed.diagnostics.length > 0) {
    const n = parsed.diagnostics.length;
    throw new PolicyError(`the ${kind} configuration ${path} is invalid (${n} problem${n === 1 ? "" : "s"})`, parsed.diagnostics, `the fields are: ${Object.keys(fields).join(", ")}`);
  }
  return { path, dir: dirname(path), values: parsed.values };
}

function decode(bytes: Uint8Array, path: string): string {
  const problem = (message: string): PolicyError => {
    const d: Diagnostic = { severity: "error", code: "invalid-text", message, file: path, line: 1, col: 1, hint: "save the file as plain UTF-8 text" };
    return new PolicyError(`the configuration ${path} is not readable text`, [d]);
  };
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw problem("the file starts with a UTF-8 byte-order mark");
  if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe)) throw problem("the file starts with a UTF-16 byte-order mark");
  if (bytes.indexOf(0) !== -1) throw problem("the file contains a NUL byte");
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw problem("the file is not valid UTF-8");
  }
}

// ---------------------------------------------------------------------------------------------
// Trust (P10)
// ---------------------------------------------------------------------------------------------

/**
 * Refuse a file or directory that someone other than the current user or root could change: it must be
 * owned by the current user or root, must not be world-writable, and may be group-writable only by root's
 * group or the user's own primary group (user-private groups, as Debian and Ubuntu create with umask 002,
 * would otherwise make every checkout unusable). sudo refuses a world-writable sudoers for the same reason.
 */
export function assertTrusted(st: Stats, path: string, what: string): void {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined) return; // not POSIX: no ownership model to check
  const kind = st.isDirectory() ? "directory" : "file";
  const fix = `chmod go-w ${path}`;
  if (st.uid !== uid && st.uid !== 0) {
    throw new GuardError(
      ExitCode.CONFIG,
      `${what} ${path} is refused: the ${kind} is owned by uid ${st.uid}, not by you (uid ${uid}) or root`,
      `whoever owns it can change what guard enforces; use a ${kind} owned by you or root (chown)`,
      [],
      "untrusted-file",
    );
  }
  if (st.mode & 0o002) {
    throw new GuardError(
      ExitCode.CONFIG,
      `${what} ${path} is refused: the ${kind} is world-writable (mode ${(st.mode & 0o7777).toString(8)})`,
      `anyone on this machine could change what guard enforces; run \`${fix}\``,
      [],
      "untrusted-file",
    );
  }
  if (st.mode & 0o020 && st.gid !== 0 && st.gid !== gid) {
    throw new GuardError(
      ExitCode.CONFIG,
      `${what} ${path} is refused: the ${kind} is writable by group ${st.gid}, which is neither root's nor your own`,
      `members of that group could change what guard enforces; run \`${fix}\``,
      [],
      "untrusted-file",
    );
  }
}
