/**
 * Commands that run another command (SECURITY E9). Guard matches rules and detects the target on the
 * program it resolves, so `sudo ./purge.sh` would be judged as "sudo" and `sh -c "…"` as "sh". `env` with
 * plain assignments is transparent and is unwrapped (its assignments count for detection); every other
 * known wrapper is reported as hiding the command, which evaluate() turns into a denial unless the policy
 * explicitly allows the wrapper itself. The list is a deny-list of known wrappers: a command missing from
 * it is matched as itself, so the list errs on the side of including things.
 */

export interface Unwrapped {
  /** The command that will really run (unchanged when nothing could be unwrapped). */
  argv: string[];
  /** Assignments made by `env NAME=value …`, to overlay on the environment for detection. */
  env: Record<string, string>;
  /** The outermost wrapper seen ("env", or the wrapper that hides the command). */
  wrapper?: string;
  /** Why the real command cannot be known, e.g. "sudo hides the command it runs". */
  hidden?: string;
}

/** Always hide what they run. */
const HIDING = new Set([
  // shells: `-c STRING`, a script file or stdin; in every case the program guard sees is the shell
  "sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "ash", "busybox", "rbash", "rksh",
  "ksh93", "pdksh", "posh", "yash", "rc", "es", "elvish", "nu", "xonsh", "pwsh", "toybox",
  // privilege and identity
  "sudo", "doas", "su", "runuser", "pkexec", "setpriv", "sg", "newgrp", "chroot",
  // process wrappers
  "xargs", "nohup", "nice", "renice", "timeout", "time", "stdbuf", "setsid", "watch", "parallel", "exec",
  "eval", "command", "builtin", "script", "unbuffer", "flock", "ionice", "taskset", "chrt", "nsenter",
  "unshare", "firejail", "systemd-run", "strace", "ltrace", "valgrind", "gdb", "caffeinate", "at", "batch",
  "dbus-run-session", "tmux", "screen", "expect", "faketime", "proxychains", "proxychains4", "torsocks",
  // remote and package runners
  "ssh", "npx", "bunx", "pnpx",
]);

/** Hide what they run only with one of these subcommands. */
const SUBCOMMANDS: Record<string, Set<string>> = {
  npm: new Set(["exec", "x", "run", "run-script", "rum", "urn", "start", "test", "t", "tst", "restart", "stop"]),
  pnpm: new Set(["exec", "dlx", "run", "start", "test", "t"]),
  yarn: new Set(["exec", "dlx", "run", "start", "test", "node"]),
  bun: new Set(["x", "run", "exec"]),
};

/** Interpreters that hide what they run when handed inline code. */
const INLINE_CODE: Record<string, RegExp> = {
  node: /^(-e|-p|-r|--eval|--print|--require|--import|--loader|--experimental-loader)(=|$)/,
  // -c CODE, and -m MODULE (a module chosen on the command line: `python3 -m http.server`, or one that runs others)
  python: /^-[A-Za-z]*[cm]/,
  perl: /^-[A-Za-z]*[eE]/,
  ruby: /^-[A-Za-z]*e/,
  php: /^-r$/,
};

export function baseName(path: string): string {
  const parts = path.split("/");
  return parts[parts.length - 1] ?? path;
}

/** NAME=value as `env` reads it: a name that does not start with '='. */
const ASSIGNMENT_RE = /^([^=]+)=([^]*)$/;

export function unwrapCommand(argv: readonly string[]): Unwrapped {
  const env: Record<string, string> = {};
  let current = [...argv];
  let wrapper: string | undefined;
  // `env A=1 env B=2 cmd` nests; each round peels one `env`.
  for (;;) {
    const first = current[0];
    if (first === undefined) return withWrapper({ argv: current, env }, wrapper);
    const base = baseName(first);
    if (base === "env") {
      let i = 1;
      const assigned: Record<string, string> = {};
      for (; i < current.length; i++) {
        const a = current[i] as string;
        if (a.startsWith("-")) {
          return { argv: current, env, wrapper: "env", hidden: `env with option ${a} hides the command it runs` };
        }
        const m = ASSIGNMENT_RE.exec(a);
        if (!m) break;
        assigned[m[1] as string] = m[2] as string;
      }
      // `env` alone, or with assignments only, prints the environment: then env itself is the program.
      if (i >= current.length) return withWrapper({ argv: current, env }, wrapper);
      Object.assign(env, assigned);
      wrapper ??= "env";
      current = current.slice(i);
      continue;
    }
    const hidden = hiddenBy(base, current.slice(1));
    if (hidden) return { argv: current, env, wrapper: base, hidden };
    return withWrapper({ argv: current, env }, wrapper);
  }
}

function withWrapper(u: Unwrapped, wrapper: string | undefined): Unwrapped {
  return wrapper === undefined ? u : { ...u, wrapper };
}

function hiddenBy(base: string, args: readonly string[]): string | undefined {
  if (HIDING.has(base)) return `${base} hides the command it runs`;
  const sub = SUBCOMMANDS[base];
  const first = args[0];
  if (sub && first !== undefined && sub.has(first)) return `${base} ${first} hides the command it runs`;
  // python3, python3.12, perl5.36, nodejs ...
  const family = /^(node|nodejs|python|perl|ruby|php)(\d+(\.\d+)*)?$/.exec(base)?.[1]?.replace("nodejs", "node");
  const inline = family === undefined ? undefined : INLINE_CODE[family];
  const flag = inline === undefined ? undefined : args.find((a) => inline.test(a));
  if (flag !== undefined) return `${base} ${flag} runs inline code that hides the command`;
  return undefined;
}

/** The dynamic loader run as a program (`/lib64/ld-linux-x86-64.so.2 /bin/sh -c …`) runs the program it is handed. */
const DYNAMIC_LOADER = /^ld(-[a-z0-9_.-]+)?\.so(\.\d+)*$/;

/**
 * The wrapper check again on the program that really runs (the base name of its real path), so that a
 * symlink to bash, busybox's applets, `env` under another name and the dynamic loader are judged as what
 * they are, not as the name typed. `program` is the resolved program; `args` its arguments.
 */
export function hiddenByProgram(program: { base: string; givenBase: string }, args: readonly string[]): string | undefined {
  const { base, givenBase } = program;
  if (DYNAMIC_LOADER.test(base) || DYNAMIC_LOADER.test(givenBase)) return `${givenBase} is the dynamic loader, which runs the program it is handed`;
  if (base === "env" && givenBase !== "env") return `${givenBase} is env (${base}), which runs the command it is handed`;
  const real = hiddenBy(base, args);
  if (real !== undefined) return base === givenBase ? real : `${givenBase} is ${base}: ${real}`;
  return undefined;
}
