import { sha256Hex } from "./canonical.js";
import type { BoundVariable, Policy } from "./types.js";

/**
 * The environment of an approved run, deny by default (C11, E10, E12, E13).
 *
 * A request binds EVERY variable of the invocation's environment (after `env NAME=VALUE` prefixes) by
 * name and SHA-256 of its value, except the few in MAY_VARY and NOT_PASSED below. The child of an
 * approved run gets exactly the bound variables (whose values must still hash to what was approved, or
 * the run is refused) plus the MAY_VARY ones present now; anything that appeared after the approval is
 * withheld. `BASH_FUNC_echo%%`, `PSQLRC`, `HOME`, `PYTHONSTARTUP`, a proxy, … — whatever changes what
 * the command really does or where it connects — is therefore either exactly what the approver saw, or
 * absent, or the run does not happen.
 *
 * "Consequential" variables are those whose VALUE the approver is shown (secrets redacted) and which
 * are bound even when unset, so one that appears at run time refuses the run instead of being
 * silently withheld: the fixed lists below, the policy's detector variables and its `bind_env`. Every
 * other variable is bound by name and digest only ({ sha256, shown: null }).
 */

/** Consequential, and bound even when unset: the approver sees "unset" and a later value is a difference. */
const FIXED_NAMES = [
  // where programs, libraries and the user's own configuration are found
  "PATH", "HOME", "SHELL", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME", "XDG_DATA_DIRS",
  "TERMINFO", "TERMINFO_DIRS",
  // shells
  "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH", "GLOBIGNORE", "PROMPT_COMMAND", "ZDOTDIR",
  // interpreters
  "NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "GEM_PATH", "GEM_HOME",
  "CLASSPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GOFLAGS", "LUA_PATH", "LUA_INIT",
  // database clients
  "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGOPTIONS", "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE",
  "PGSYSCONFDIR", "PSQLRC", "DATABASE_URL", "MYSQL_HOST", "MYSQL_PWD", "MYSQL_HOME", "REDIS_URL", "MONGODB_URI",
  // clusters and clouds (AWS_* and friends below)
  "KUBECONFIG", "GOOGLE_APPLICATION_CREDENTIALS", "DOCKER_HOST", "DOCKER_CONFIG",
  // where connections go and whom they trust
  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
  "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
];

/** Consequential when present (one that appears at run time is still a difference). */
const FIXED_GLOBS = [
  "LD_*", "DYLD_*", "BASH_FUNC_*", "PYTHON*", "NODE_*", "PERL*", "RUBY*", "BUNDLE_*", "GIT_*",
  "PG*", "MYSQL_*", "AWS_*", "CLOUDSDK_*", "GOOGLE_*", "AZURE_*", "ARM_*", "TF_*", "VAULT_*", "KUBE*", "HELM_*",
  "DOCKER_*", "SSH_ASKPASS*", "SUDO_ASKPASS",
];

/**
 * May differ between request and run; not bound, passed to the child as they are now. Each only
 * describes the terminal, the login session or the CI attempt the run happens in; none decides which
 * code runs, which files it reads or where it connects (the variables that do — TERMINFO, HOME, PATH,
 * proxies, credentials — are bound). A policy's `bind_env` or a detector that names one binds it.
 */
export const MAY_VARY: Readonly<Record<string, string>> = {
  TERM: "the terminal type; capabilities come from the system terminfo database (TERMINFO, TERMINFO_DIRS and HOME stay bound)",
  COLUMNS: "terminal width",
  LINES: "terminal height",
  COLORTERM: "terminal colour support",
  TERM_PROGRAM: "which terminal emulator is in use",
  TERM_PROGRAM_VERSION: "the terminal emulator's version",
  TERM_SESSION_ID: "the terminal window's session id",
  VTE_VERSION: "the terminal emulator's version",
  WINDOWID: "the X11 window of the terminal",
  TMUX: "the tmux session the terminal is in (a per-session socket)",
  TMUX_PANE: "the tmux pane the terminal is in",
  STY: "the screen session the terminal is in",
  WINDOW: "the screen window the terminal is in",
  SHLVL: "how deeply shells are nested",
  SSH_AUTH_SOCK: "the login's ssh-agent socket (a new path every login); the agent holds the user's own keys, and hosts are named by the bound argv and configuration",
  SSH_AGENT_PID: "the login's ssh-agent process",
  SSH_CONNECTION: "addresses and ports of the current ssh login",
  SSH_CLIENT: "addresses and ports of the current ssh login",
  SSH_TTY: "the terminal device of the current ssh login",
  GPG_TTY: "the terminal gpg's pinentry prompts on",
  XDG_SESSION_ID: "the login session's number",
  XDG_VTNR: "the virtual console's number",
  INVOCATION_ID: "systemd's id for this start of a service",
  JOURNAL_STREAM: "systemd's journal stream of this start of a service",
  GITHUB_RUN_ATTEMPT: "GitHub Actions: counts re-runs of the same workflow run",
  RUNNER_NAME: "GitHub Actions: the name of the runner machine a re-run lands on",
  RUNNER_TRACKING_ID: "GitHub Actions: the runner's id for this job",
  GITHUB_ENV: "GitHub Actions: a per-step file the runner reads after the step (for later steps)",
  GITHUB_OUTPUT: "GitHub Actions: a per-step file the runner reads after the step",
  GITHUB_STATE: "GitHub Actions: a per-step file the runner reads after the step",
  GITHUB_PATH: "GitHub Actions: a per-step file the runner reads after the step (for later steps)",
  GITHUB_STEP_SUMMARY: "GitHub Actions: a per-step file the runner shows on the run's page",
  ACTIONS_RUNTIME_TOKEN: "GitHub Actions: a per-job token for the runner's own services",
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: "GitHub Actions: a per-job token to ask GitHub for an OIDC token (GitHub signs the workflow's claims; the URL stays bound)",
};

/**
 * Neither bound nor passed: shell bookkeeping that a command has no business reading. PWD is replaced
 * by the bound working directory (cwd is compared before the run), so a PWD naming another directory
 * never reaches a script that reads "$PWD/.env"; OLDPWD and `_` are left for the child's shell to set.
 */
export const NOT_PASSED: Readonly<Record<string, string>> = {
  PWD: "set by guard to the bound working directory",
  OLDPWD: "the shell's previous directory; not passed",
  _: "the shell's last argument; not passed",
  SUDO_COMMAND: "sudo's record of the guard command line it started (on a bastion it differs between request and run); not passed",
};

/**
 * The longest value shown to an approver (a long PATH fits); the digest binds the rest, and a value cut
 * short ends in CUT_MARK, which the approver's view flags. Requests are signed and stored: values of
 * consequential variables only are kept, and never more than this.
 */
export const SHOWN_MAX = 1024;
export const CUT_MARK = / \(cut: \d+ characters in all\)$/;

const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE/i;
const SECRET_NAMES = new Set(["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MYSQL_PWD"]);

const isGlob = (pattern: string): boolean => /[*?]/.test(pattern);

const globSource = (pattern: string): string => pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");

/** `*` any run of characters, `?` one character, everything else literal; names are case-sensitive. */
export function envGlobMatches(pattern: string, name: string): boolean {
  return new RegExp(`^${globSource(pattern)}$`, "s").test(name);
}

/** Which variable names are consequential under a policy: shown by value, bound even when unset. */
export interface Consequential {
  /** Bound even when unset. */
  names: ReadonlySet<string>;
  /** Consequential when present: every glob, as one regular expression. */
  globs: RegExp;
}

export function consequential(policy: Pick<Policy, "bindEnv">, detectorVariables: readonly string[]): Consequential {
  const names = new Set<string>([...FIXED_NAMES, ...detectorVariables]);
  const globs = [...FIXED_GLOBS];
  for (const entry of policy.bindEnv) {
    if (isGlob(entry)) globs.push(entry);
    else names.add(entry);
  }
  return { names, globs: new RegExp(`^(?:${globs.map(globSource).join("|")})$`, "s") };
}

function isConsequential(c: Consequential, name: string): boolean {
  return c.names.has(name) || c.globs.test(name);
}

/**
 * What a request binds of `env` (the invocation's environment with `env` prefixes applied): every
 * variable but MAY_VARY and NOT_PASSED (unless the policy makes one consequential), the consequential
 * ones with their (redacted, capped) value shown, plus every consequential name that is unset. Sorted.
 */
export function boundEnvironment(
  policy: Pick<Policy, "bindEnv">,
  env: Readonly<Record<string, string | undefined>>,
  detectorVariables: readonly string[],
): Record<string, BoundVariable> {
  const c = consequential(policy, detectorVariables);
  const out: Record<string, BoundVariable> = {};
  const names = new Set<string>(c.names);
  for (const [name, value] of Object.entries(env)) if (value !== undefined) names.add(name);
  for (const name of [...names].sort()) {
    const weighty = isConsequential(c, name);
    if (!weighty && (Object.hasOwn(MAY_VARY, name) || Object.hasOwn(NOT_PASSED, name))) continue;
    out[name] = weighty ? bindVariable(name, env[name]) : bindNameOnly(env[name]);
  }
  return out;
}

/** A consequential variable: its digest, and its value as the approver sees it. */
export function bindVariable(name: string, value: string | undefined): BoundVariable {
  if (value === undefined) return { sha256: null, shown: null };
  const sha256 = sha256Hex(value);
  if (isSecretName(name)) return { sha256, shown: `(secret, sha256 ${sha256.slice(0, 8)}…)` };
  const shown = redactValue(value);
  return { sha256, shown: shown.length > SHOWN_MAX ? `${shown.slice(0, SHOWN_MAX)}… (cut: ${value.length} characters in all)` : shown };
}

/** Any other variable: bound by digest, shown by name only. */
export function bindNameOnly(value: string | undefined): BoundVariable {
  return value === undefined ? { sha256: null, shown: null } : { sha256: sha256Hex(value), shown: null };
}

/** Bound by name only: set, but its value is not shown (only a consequential variable's is). */
export function isNameOnly(v: BoundVariable): boolean {
  return v.sha256 !== null && v.shown === null;
}

export interface ChildEnvironment {
  /** What the child of an approved run receives. */
  env: Record<string, string>;
  /** Present now but not passed: not bound in the approved request, or no longer its approved value. Sorted. */
  withheld: string[];
}

/**
 * The environment of an approved run's child: every bound variable set now to its approved value
 * (one whose value no longer hashes to the approved digest is withheld; the binding comparison has
 * refused such a run before this is reached), every MAY_VARY variable present now that the request
 * does not bind, and PWD set to the bound working directory. Nothing else.
 */
export function childEnvironment(
  bound: Readonly<Record<string, BoundVariable>>,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): ChildEnvironment {
  const out: Record<string, string> = {};
  const withheld: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || Object.hasOwn(NOT_PASSED, name)) continue;
    const b = Object.hasOwn(bound, name) ? bound[name] : undefined;
    if (b === undefined ? Object.hasOwn(MAY_VARY, name) : b.sha256 !== null && b.sha256 === sha256Hex(value)) out[name] = value;
    else withheld.push(name);
  }
  out.PWD = cwd;
  return { env: out, withheld: withheld.sort() };
}

export function isSecretName(name: string): boolean {
  return SECRET_NAMES.has(name) || SECRET_NAME.test(name);
}

/**
 * A value with embedded passwords masked: URL userinfo (`postgres://u:pw@h`), and `password=…`-style
 * keywords in libpq connection strings and URL queries. The masked value still differs from another
 * masked value only where the visible parts differ; the sha256 carries the rest.
 */
export function redactValue(value: string): string {
  return value
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^/\s]*@/gi, "$1***@")
    .replace(/\b((?:ssl)?password|passwd|pwd|secret|token)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s;]*)/gi, "$1$2***");
}
