/**
 * Shell completion, answered by guard itself (the `kubectl __complete` pattern): the hidden command
 * `guard __complete WORD… CURRENT` prints what may follow, one candidate a line, from commander's own
 * view of the command table (what `--help` shows), so it never drifts. `guard completion bash|zsh|fish`
 * prints a short shim that hands the command line to it and the candidates to the shell.
 *
 * The first line of the answer is a directive for the shell; candidates follow, `value<TAB>description`:
 *   :none          only the candidates
 *   :files / :dirs the shell's own file (directory) completion
 *   :command N     the wrapped command (after run/check/request) starts at word N (0 = the first word
 *                  after guard): the shell completes it with that command's own completion
 *
 * Values from the policy (environment names and aliases, for --env/--confirm) and the store (pending and
 * approved request ids, for approve/deny/show and --request) are printed only when they are what guard
 * itself would accept — a policy name or a request id, words no shell gives a meaning to — so a store or
 * policy writer cannot put a command into someone's shell; the shims insert candidates quoted as well.
 */
import type { Command, Option } from "commander";
import { isRequestId } from "../core/ids.js";
import { NAME_RE } from "../core/policy/fields.js";
import { usageError } from "../core/errors.js";
import { printStdout } from "../adapters/output.js";
import type { Runtime } from "../runtime.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

export type Directive = { kind: "none" } | { kind: "files" } | { kind: "dirs" } | { kind: "command"; at: number };

export interface Candidate {
  value: string;
  description?: string;
}

/** What the command table alone says; `lookup` asks the edges for the policy's or the store's words. */
export interface Answer {
  directive: Directive;
  candidates: Candidate[];
  lookup?: { kind: "environments" | "requests"; prefix: string; glue: string };
  /** --policy, --store and --key as typed earlier on the line: where the lookup reads. */
  flags: { policy?: string; store?: string; key?: string };
}

/** Option values whose meaning is known; every other option value is free text. */
const VALUES: Record<string, Directive | "environments" | "requests"> = {
  "--policy": { kind: "dirs" },
  "--key": { kind: "files" },
  "--request": "requests",
  "--env": "environments",
  "--confirm": "environments",
};

const visibleCommands = (cmd: Command): Command[] => cmd.createHelp().visibleCommands(cmd);
const visibleOptions = (cmd: Command): Option[] => cmd.createHelp().visibleOptions(cmd);
/** run, check and request: their first argument is a command of its own. */
const wraps = (cmd: Command): boolean => cmd.registeredArguments[0]?.variadic === true && cmd.registeredArguments[0].name() === "command";
const firstLine = (s: string): string => (s.split("\n")[0] ?? "").trim();

function optionNamed(cmd: Command, name: string): Option | undefined {
  return visibleOptions(cmd).find((o) => o.long === name || o.short === name);
}

function valueOf(o: Option): Directive | "environments" | "requests" | { choices: string[] } | null {
  if (!o.required && !o.optional) return null;
  if (o.argChoices?.length) return { choices: [...o.argChoices] };
  return VALUES[o.long ?? ""] ?? { kind: "none" };
}

/**
 * What may follow `guard WORDS…`; the last word is the one being completed (empty for a new word). Pure:
 * the policy's and store's words are asked for in `lookup`.
 */
export function complete(program: Command, words: readonly string[]): Answer {
  const flags: Answer["flags"] = {};
  const done = words.slice(0, -1);
  const cur = words.at(-1) ?? "";
  let cmd = program;
  let parent: Command | null = null;
  let i = 0;
  let positionals = 0;
  const answer = (directive: Directive, candidates: Candidate[] = [], lookup?: Answer["lookup"]): Answer => ({ directive, candidates, lookup, flags });

  // Walk the finished words: options (and their values), subcommands, positional arguments.
  while (i < done.length) {
    const w = done[i]!;
    if (w === "--") {
      if (wraps(cmd)) return answer({ kind: "command", at: i + 1 });
      i++;
      continue;
    }
    if (w.startsWith("-") && w !== "-") {
      const [name, inline] = w.includes("=") ? [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)] : [w, undefined];
      const o = optionNamed(cmd, name);
      const takes = o !== undefined && valueOf(o) !== null;
      let value = inline;
      if (takes && inline === undefined) {
        // bash splits `--opt=value` into `--opt`, `=`, `value` (COMP_WORDBREAKS).
        if (done[i + 1] === "=") {
          if (i + 2 >= done.length) return valueAnswer(o!, cur, "", answer);
          value = done[i + 2];
          i += 2;
        } else {
          // bash: the word being completed is the `=` itself; what replaces it keeps the `=`.
          if (i + 1 >= done.length) return cur === "=" ? valueAnswer(o!, "", "=", answer) : valueAnswer(o!, cur, "", answer);
          value = done[i + 1];
          i += 1;
        }
      }
      if (o && value !== undefined && (o.long === "--policy" || o.long === "--store" || o.long === "--key")) flags[o.long.slice(2) as "policy"] = value;
      i++;
      continue;
    }
    const sub = visibleCommands(cmd).find((c) => c.name() === w || c.aliases().includes(w));
    if (sub && positionals === 0) {
      parent = cmd;
      cmd = sub;
      i++;
      continue;
    }
    if (wraps(cmd)) return answer({ kind: "command", at: i });
    positionals++;
    i++;
  }

  // The word being completed.
  if (cur.startsWith("-")) {
    const eq = cur.indexOf("=");
    if (eq > 0) {
      const o = optionNamed(cmd, cur.slice(0, eq));
      return o && valueOf(o) !== null ? valueAnswer(o, cur.slice(eq + 1), cur.slice(0, eq + 1), answer) : answer({ kind: "none" });
    }
    const options: Candidate[] = visibleOptions(cmd).flatMap((o) => [o.short, o.long].filter((n): n is string => typeof n === "string").map((value) => ({ value, description: firstLine(o.description) })));
    if (wraps(cmd)) options.push({ value: "--", description: "end of guard's options: the command follows" });
    return answer({ kind: "none" }, options.filter((c) => c.value.startsWith(cur)));
  }
  const subs = positionals === 0 ? visibleCommands(cmd) : [];
  if (subs.length) {
    // commander's implicit `help [command]`: its argument is one of its siblings.
    const candidates = subs.map((c) => ({ value: c.name(), description: firstLine(c.description()) }));
    return answer({ kind: "none" }, candidates.filter((c) => c.value.startsWith(cur)));
  }
  if (cmd.name() === "help" && parent && positionals === 0) {
    const siblings = visibleCommands(parent).filter((c) => c.name() !== "help");
    return answer({ kind: "none" }, siblings.map((c) => ({ value: c.name(), description: firstLine(c.description()) })).filter((c) => c.value.startsWith(cur)));
  }
  if (wraps(cmd)) return answer({ kind: "command", at: done.length });
  const arg = cmd.registeredArguments[positionals];
  if (!arg) return answer({ kind: "none" });
  if (arg.argChoices?.length) return answer({ kind: "none" }, arg.argChoices.filter((c) => c.startsWith(cur)).map((value) => ({ value })));
  if (arg.name() === "id") return answer({ kind: "none" }, [], { kind: "requests", prefix: cur, glue: "" });
  return answer({ kind: "none" });
}

function valueAnswer(o: Option, prefix: string, glue: string, answer: (d: Directive, c?: Candidate[], l?: Answer["lookup"]) => Answer): Answer {
  const v = valueOf(o)!;
  if (v === "environments" || v === "requests") return answer({ kind: "none" }, [], { kind: v, prefix, glue });
  if ("choices" in v) return answer({ kind: "none" }, v.choices.filter((c) => c.startsWith(prefix)).map((c) => ({ value: glue + c })));
  // `--policy=dir`: the shell completes the file after the `=` only where it splits there (bash).
  return answer(glue ? { kind: "none" } : v);
}

/**
 * Words from a policy or a store, as candidates: only those guard itself would take as an environment
 * name or a request id (neither holds a character any shell treats specially); anything else is dropped.
 */
export function lookedUp(kind: "environments" | "requests", words: readonly string[], prefix: string, glue: string): Candidate[] {
  const valid = kind === "requests" ? isRequestId : (w: string): boolean => NAME_RE.test(w);
  return [...new Set(words)].filter((w) => valid(w) && w.startsWith(prefix)).sort().map((w) => ({ value: glue + w }));
}

/** The answer as printed: the directive line, then a candidate a line (descriptions are guard's own text). */
export function formatAnswer(directive: Directive, candidates: readonly Candidate[]): string {
  const head = directive.kind === "command" ? `:command ${directive.at}` : `:${directive.kind}`;
  const clean = (s: string): string => s.replace(/[\t\n\r]/g, " ");
  return [head, ...candidates.map((c) => (c.description ? `${clean(c.value)}\t${clean(c.description)}` : clean(c.value)))].join("\n");
}

/**
 * `guard __complete WORD…`: the answer, with the policy's or the store's words when asked for. Never
 * fails and records nothing: anything that goes wrong (no policy, an unreachable store) means fewer
 * candidates; the store is opened without creating it, and given 2 seconds.
 */
export async function completeCommand(words: readonly string[], program: Command, rt: Runtime): Promise<void> {
  const a = complete(program, words.length ? words : [""]);
  let found: Candidate[] = [];
  if (a.lookup) {
    const { kind, prefix, glue } = a.lookup;
    const lookup = async (): Promise<string[]> => {
      const { Context } = await import("./context.js");
      const ctx = await Context.create(rt, { ...a.flags, json: false });
      try {
        if (kind === "environments") return Object.values((await ctx.policy()).policy.environments).flatMap((e) => [e.name, ...e.aliases]);
        const store = await ctx.store({ create: false });
        return (await store.listOpenRequests(await ctx.now())).requests.map((r) => r.request.id);
      } finally {
        await ctx.close();
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), 2000)));
    found = lookedUp(kind, await Promise.race([lookup().catch(() => []), timeout]), prefix, glue);
    clearTimeout(timer);
  }
  printStdout(formatAnswer(a.directive, [...a.candidates, ...found]));
}

/** `guard completion SHELL`: the shim for that shell. */
export function completionCommand(shell: string): void {
  if (!(SHELLS as readonly string[]).includes(shell)) throw usageError(`no completion for shell ${JSON.stringify(shell)}`, `choose one of: ${SHELLS.join(", ")}`);
  printStdout(SHIMS[shell as Shell]);
}

// ---------------------------------------------------------------------------------------------
// The shims: each hands the words up to the cursor to `guard __complete` and gives the shell what it
// answers. Candidates are inserted quoted by the shell (bash: printf %q), never evaluated.
// ---------------------------------------------------------------------------------------------

const BASH = `# bash completion for guard: guard answers itself (guard __complete). Generated by guard completion bash.
# Install: echo 'source <(guard completion bash)' >> ~/.bashrc
_guard() {
  local cur=\${COMP_WORDS[COMP_CWORD]} directive line
  local -a out
  COMPREPLY=()
  mapfile -t out < <("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" </dev/null 2>/dev/null)
  directive=\${out[0]-}
  case $directive in
    ':files') compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    ':dirs') compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    ':command '*)
      local at=$(( \${directive#:command } + 1 ))
      if declare -F _command_offset >/dev/null; then _command_offset "$at"; return 0; fi
      compopt -o filenames 2>/dev/null
      if (( at == COMP_CWORD )); then mapfile -t COMPREPLY < <({ compgen -c -- "$cur"; compgen -f -- "$cur"; } | sort -u)
      else mapfile -t COMPREPLY < <(compgen -f -- "$cur"); fi ;;
    *) for line in "\${out[@]:1}"; do printf -v line '%q' "\${line%%$'\\t'*}"; COMPREPLY+=("$line"); done ;;
  esac
}
complete -F _guard guard
`;

const ZSH = `#compdef guard
# zsh completion for guard: guard answers itself (guard __complete). Generated by guard completion zsh.
# Install: guard completion zsh > "\${fpath[1]}/_guard" and restart zsh (or source it after compinit).
_guard() {
  local -a out values descs
  local directive line
  out=("\${(@f)$("\${(Q)words[1]}" __complete "\${(@Q)words[2,CURRENT]}" </dev/null 2>/dev/null)}")
  directive=\${out[1]}
  case $directive in
    (:files) _files ;;
    (:dirs) _files -/ ;;
    (':command '*)
      local -i at=$(( \${directive#:command } + 2 ))
      words=("\${(@)words[at,-1]}")
      (( CURRENT -= at - 1 ))
      _normal ;;
    (*)
      for line in "\${(@)out[2,-1]}"; do
        values+=("\${line%%$'\\t'*}")
        [[ $line == *$'\\t'* ]] && descs+=("\${line%%$'\\t'*} -- \${line#*$'\\t'}") || descs+=("\${line%%$'\\t'*}")
      done
      (( \${#values} )) && compadd -l -d descs -a values ;;
  esac
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _guard "$@"
else
  compdef _guard guard
fi
`;

const FISH = `# fish completion for guard: guard answers itself (guard __complete). Generated by guard completion fish.
# Install: guard completion fish > ~/.config/fish/completions/guard.fish
function __guard_complete
    set -l tokens (commandline -opc)
    set -l out ($tokens[1] __complete $tokens[2..-1] (commandline -ct) </dev/null 2>/dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path (commandline -ct)
        case :dirs
            __fish_complete_directories (commandline -ct)
        case ':command *'
            set -l at (math (string replace ':command ' '' -- $out[1]) + 2)
            # Always a command line of its own: an empty --do-complete would complete guard's again.
            set -l line ''
            for w in $tokens[$at..-1]
                set line "$line"(string escape -- $w)' '
            end
            complete --do-complete="$line"(commandline -ct)
        case '*'
            printf '%s\\n' $out[2..-1]
    end
end
complete -c guard -f -a '(__guard_complete)'
`;

const SHIMS: Record<Shell, string> = { bash: BASH, zsh: ZSH, fish: FISH };
