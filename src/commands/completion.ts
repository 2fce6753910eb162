/**
 * `guard completion bash|zsh|fish`: a completion script generated from the command table itself
 * (commander's own view of visible commands and options, as `--help` shows them), so it never drifts.
 *
 * Completed: commands and subcommands, options, directories for --policy, files for --key, the choices
 * of `completion <shell>`, the wrapped command after `run`/`check`/`request` (by the shell's own
 * completion for that command), and request ids for `approve`/`deny`/`show` and `--request`, read with
 * one `guard requests --json` (pending and approved requests, from the store guard is configured with).
 * Not completed: environment names for --env/--confirm — no command lists them without a decision.
 */
import type { Argument, Command, Option } from "commander";
import { usageError } from "../core/errors.js";
import { printStdout } from "../adapters/output.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** What follows an option or fills a positional argument. */
export type ValueKind = { kind: "none" } | { kind: "text" } | { kind: "dir" } | { kind: "file" } | { kind: "request" } | { kind: "choices"; choices: string[] };

export interface OptionSpec {
  /** Long and short spellings, e.g. ["--env"] or ["-V", "--version"]. */
  names: string[];
  description: string;
  value: ValueKind;
}

export interface CommandSpec {
  /** Names from the top, e.g. ["policy", "lint"]; [] for guard itself. */
  path: string[];
  description: string;
  subcommands: CommandSpec[];
  options: OptionSpec[];
  /** The first positional argument: the wrapped command (run, check, request), a request id, choices… */
  positional: ValueKind | { kind: "command" };
}

/** Option values whose meaning the shell can complete; every other option value is free text. */
const VALUE_KINDS: Record<string, ValueKind> = {
  "--policy": { kind: "dir" },
  "--key": { kind: "file" },
  "--request": { kind: "request" },
};

export function completionModel(program: Command): CommandSpec {
  return walk(program, []);
}

function walk(cmd: Command, path: string[]): CommandSpec {
  const help = cmd.createHelp();
  const subs = help.visibleCommands(cmd);
  return {
    path,
    description: firstLine(cmd.description()),
    subcommands: subs.map((s) => (s.name() === "help" && s.commands.length === 0 ? helpSpec(s, [...path, "help"], subs) : walk(s, [...path, s.name()]))),
    options: help.visibleOptions(cmd).map(optionSpec),
    positional: positional(cmd.registeredArguments[0]),
  };
}

/** commander's implicit `help [command]`: its argument is one of its siblings. */
function helpSpec(cmd: Command, path: string[], siblings: Command[]): CommandSpec {
  const names = siblings.map((s) => s.name()).filter((n) => n !== "help");
  return { path, description: firstLine(cmd.description()), subcommands: [], options: [], positional: { kind: "choices", choices: names } };
}

function optionSpec(o: Option): OptionSpec {
  const names = [o.short, o.long].filter((n): n is string => typeof n === "string");
  const takesValue = o.required || o.optional;
  let value: ValueKind = { kind: "none" };
  if (takesValue) value = o.argChoices?.length ? { kind: "choices", choices: [...o.argChoices] } : (VALUE_KINDS[o.long ?? ""] ?? { kind: "text" });
  return { names, description: firstLine(o.description), value };
}

function positional(arg: Argument | undefined): CommandSpec["positional"] {
  if (!arg) return { kind: "none" };
  if (arg.variadic && arg.name() === "command") return { kind: "command" };
  if (arg.argChoices?.length) return { kind: "choices", choices: [...arg.argChoices] };
  if (arg.name() === "id") return { kind: "request" };
  return { kind: "text" };
}

function firstLine(s: string): string {
  return (s.split("\n")[0] ?? "").trim();
}

/** Every command in the tree, parents before children. */
export function flatten(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(flatten)];
}

/** `program`: the whole command tree (src/cli.ts buildProgram()), which the scripts are made from. */
export async function completionCommand(shell: string, program: Parameters<typeof completionModel>[0]): Promise<void> {
  if (!(SHELLS as readonly string[]).includes(shell)) throw usageError(`no completion for shell ${JSON.stringify(shell)}`, `choose one of: ${SHELLS.join(", ")}`);
  printStdout(completionScript(shell as Shell, completionModel(program)));
}

export function completionScript(shell: Shell, model: CommandSpec): string {
  const t = tables(model);
  return shell === "bash" ? bashScript(t) : shell === "zsh" ? zshScript(t) : fishScript(t, model);
}

// ---------------------------------------------------------------------------------------------
// The tables every script is made of; command and option names are guard's own ([a-z-]), descriptions
// are quoted for the shell.
// ---------------------------------------------------------------------------------------------

interface Tables {
  all: CommandSpec[];
  /** "path|word" → the path that word leads to, e.g. "policy|lint" → "policy lint". */
  transitions: Array<[string, string]>;
  /** "path|--opt" → what follows the option (options that take a value only). */
  values: Array<[string, ValueKind]>;
  wrapping: string[];
}

const key = (spec: CommandSpec): string => spec.path.join(" ");

function tables(model: CommandSpec): Tables {
  const all = flatten(model);
  return {
    all,
    transitions: all.flatMap((c) => c.subcommands.map((s): [string, string] => [`${key(c)}|${s.path.at(-1)}`, key(s)])),
    values: all.flatMap((c) => c.options.filter((o) => o.value.kind !== "none").flatMap((o) => o.names.map((n): [string, ValueKind] => [`${key(c)}|${n}`, o.value]))),
    wrapping: all.filter((c) => c.positional.kind === "command").map(key),
  };
}

/** A single-quoted word for bash, zsh (and POSIX sh). */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A single-quoted word for fish, where \\ and \' are escapes inside single quotes. */
function fq(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function kindWord(v: ValueKind): string {
  return v.kind;
}

function choicesOf(v: ValueKind | { kind: "command" }): string {
  return v.kind === "choices" ? v.choices.join(" ") : "";
}

/** `case` arms grouping keys by the value they map to. */
function caseArms(entries: Array<[string, string]>, indent: string, body: (value: string) => string, zsh = false): string[] {
  const byValue = new Map<string, string[]>();
  for (const [k, v] of entries) byValue.set(v, [...(byValue.get(v) ?? []), k]);
  return [...byValue].map(([v, ks]) => `${indent}${zsh ? "(" : ""}${ks.map(sq).join("|")}) ${body(v)} ;;`);
}

// ---------------------------------------------------------------------------------------------
// bash
// ---------------------------------------------------------------------------------------------

function bashScript(t: Tables): string {
  const wraps = t.wrapping.map(sq).join("|") || "''";
  return [
    "# bash completion for guard, generated by `guard completion bash` from guard's own command table.",
    "# Install: echo 'source <(guard completion bash)' >> ~/.bashrc",
    "",
    "_guard_request_ids() {",
    "  # Pending and approved request ids, from the store guard is configured with (one `guard requests`).",
    "  local out",
    "  if command -v timeout >/dev/null 2>&1; then",
    '    out=$(timeout 3 "$1" requests --json </dev/null 2>/dev/null)',
    "  else",
    '    out=$("$1" requests --json </dev/null 2>/dev/null)',
    "  fi",
    "  printf '%s\\n' \"$out\" | grep -o 'r-[a-z2-7]\\{20\\}' | sort -u",
    "}",
    "",
    "_guard_wraps() {",
    `  case $1 in ${wraps}) return 0 ;; esac`,
    "  return 1",
    "}",
    "",
    "# What follows option $2 of command $1: sets _guard_kind (empty for a flag) and _guard_choices.",
    "_guard_value() {",
    "  _guard_choices=",
    '  case "$1|$2" in',
    ...caseArms(t.values.map(([k, v]) => [k, `${kindWord(v)}\t${choicesOf(v)}`]), "    ", (v) => {
      const [kind, choices] = v.split("\t");
      return `_guard_kind=${kind}${choices ? `; _guard_choices=${sq(choices)}` : ""}`;
    }),
    "    *) _guard_kind= ;;",
    "  esac",
    "}",
    "",
    "# Words for command $1: its options (_guard_options), subcommands (_guard_subcommands), first argument.",
    "_guard_words() {",
    "  _guard_options= _guard_subcommands= _guard_kind= _guard_choices=",
    "  case $1 in",
    ...t.all.map((c) => {
      const opts = c.options.flatMap((o) => o.names);
      if (c.positional.kind === "command") opts.push("--");
      const subs = c.subcommands.map((s) => s.path.at(-1)!);
      const pos = c.positional.kind === "command" || c.positional.kind === "none" ? "" : `; _guard_kind=${c.positional.kind}${choicesOf(c.positional) ? `; _guard_choices=${sq(choicesOf(c.positional))}` : ""}`;
      return `    ${sq(key(c))}) _guard_options=${sq(opts.join(" "))}; _guard_subcommands=${sq(subs.join(" "))}${pos} ;;`;
    }),
    "  esac",
    "}",
    "",
    "_guard_complete_kind() {",
    "  case $_guard_kind in",
    '    dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;',
    '    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;',
    '    request) mapfile -t COMPREPLY < <(compgen -W "$(_guard_request_ids "${COMP_WORDS[0]}")" -- "$cur") ;;',
    '    choices) mapfile -t COMPREPLY < <(compgen -W "$_guard_choices" -- "$cur") ;;',
    "  esac",
    "}",
    "",
    "_guard() {",
    "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
    '  local gpath="" w i=1 wrapped=0 _guard_kind _guard_choices _guard_options _guard_subcommands',
    "  COMPREPLY=()",
    "  # bash splits words at = and : (COMP_WORDBREAKS); --opt=value is not completed.",
    '  [[ $cur == "=" || $prev == "=" ]] && return 0',
    "  while (( i < COMP_CWORD )); do",
    "    w=${COMP_WORDS[i]}",
    "    if [[ $w == [=:] ]]; then (( i += 2 )); continue; fi",
    "    if [[ $w == -- ]]; then",
    '      if _guard_wraps "$gpath"; then wrapped=$(( i + 1 )); break; fi',
    "      (( i += 1 )); continue",
    "    fi",
    "    if [[ $w == -* ]]; then",
    '      if [[ ${COMP_WORDS[i+1]} == "=" ]]; then (( i += 3 )); continue; fi',
    '      _guard_value "$gpath" "$w"',
    "      if [[ -n $_guard_kind ]]; then (( i += 2 )); else (( i += 1 )); fi",
    "      continue",
    "    fi",
    '    case "$gpath|$w" in',
    ...caseArms(t.transitions, "      ", (v) => `gpath=${sq(v)}`),
    '      *) if _guard_wraps "$gpath"; then wrapped=$i; break; fi ;;',
    "    esac",
    "    (( i += 1 ))",
    "  done",
    "",
    "  if (( wrapped > 0 )); then",
    "    # The wrapped command: its own completion when bash-completion is loaded, else commands and files.",
    '    if declare -F _command_offset >/dev/null; then _command_offset "$wrapped"; return 0; fi',
    "    compopt -o filenames 2>/dev/null",
    '    if (( wrapped == COMP_CWORD )); then',
    '      mapfile -t COMPREPLY < <({ compgen -c -- "$cur"; compgen -f -- "$cur"; } | sort -u)',
    "    else",
    '      mapfile -t COMPREPLY < <(compgen -f -- "$cur")',
    "    fi",
    "    return 0",
    "  fi",
    "",
    '  if [[ $prev == -* ]]; then',
    '    _guard_value "$gpath" "$prev"',
    "    if [[ -n $_guard_kind ]]; then _guard_complete_kind; return 0; fi",
    "  fi",
    '  _guard_words "$gpath"',
    "  if [[ $cur == -* ]]; then",
    '    mapfile -t COMPREPLY < <(compgen -W "$_guard_options" -- "$cur")',
    "    return 0",
    "  fi",
    "  if [[ -n $_guard_subcommands ]]; then",
    '    mapfile -t COMPREPLY < <(compgen -W "$_guard_subcommands" -- "$cur")',
    "    return 0",
    "  fi",
    '  if _guard_wraps "$gpath"; then',
    "    compopt -o filenames 2>/dev/null",
    '    mapfile -t COMPREPLY < <({ compgen -c -- "$cur"; compgen -f -- "$cur"; } | sort -u)',
    "    return 0",
    "  fi",
    "  _guard_complete_kind",
    "}",
    "",
    "complete -F _guard guard",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// zsh
// ---------------------------------------------------------------------------------------------

/** A `_describe` entry: `name:description`, with colons in the name escaped. */
function describeEntry(name: string, description: string): string {
  return sq(`${name.replace(/:/g, "\\:")}:${description}`);
}

function zshScript(t: Tables): string {
  const wraps = t.wrapping.map(sq).join("|") || "''";
  return [
    "#compdef guard",
    "# zsh completion for guard, generated by `guard completion zsh` from guard's own command table.",
    '# Install: guard completion zsh > "${fpath[1]}/_guard" and restart zsh (or source it after compinit).',
    "",
    "_guard_request_ids() {",
    "  # Pending and approved request ids, from the store guard is configured with (one `guard requests`).",
    "  local out",
    "  local -a ids",
    "  if (( $+commands[timeout] )); then",
    '    out=$(timeout 3 "${(Q)words[1]}" requests --json </dev/null 2>/dev/null)',
    "  else",
    '    out=$("${(Q)words[1]}" requests --json </dev/null 2>/dev/null)',
    "  fi",
    "  ids=(${(u)${(f)\"$(print -r -- \"$out\" | grep -o 'r-[a-z2-7]\\{20\\}')\"}})",
    "  (( ${#ids} )) && compadd -a ids",
    "}",
    "",
    "_guard_wraps() {",
    `  case $1 in (${wraps}) return 0 ;; esac`,
    "  return 1",
    "}",
    "",
    "# What follows option $2 of command $1: sets kind (empty for a flag) and choices.",
    "_guard_value() {",
    "  choices=",
    '  case "$1|$2" in',
    ...caseArms(t.values.map(([k, v]) => [k, `${kindWord(v)}\t${choicesOf(v)}`]), "    ", (v) => {
      const [kind, choices] = v.split("\t");
      return `kind=${kind}${choices ? `; choices=${sq(choices)}` : ""}`;
    }, true),
    "    (*) kind= ;;",
    "  esac",
    "}",
    "",
    "# For command $1: specs (options or subcommands, for _describe), tag, and kind/choices of its argument.",
    "_guard_words() {",
    "  local what=$2",
    "  specs=() kind= choices=",
    "  case \"$what|$1\" in",
    ...t.all.flatMap((c) => {
      const opts = c.options.flatMap((o) => o.names.map((n) => describeEntry(n, o.description)));
      if (c.positional.kind === "command") opts.push(describeEntry("--", "end of guard's options: the command follows"));
      const subs = c.subcommands.map((s) => describeEntry(s.path.at(-1)!, s.description));
      const pos = c.positional.kind === "command" || c.positional.kind === "none" ? "" : ` kind=${c.positional.kind}${choicesOf(c.positional) ? ` choices=${sq(choicesOf(c.positional))}` : ""}`;
      return [
        `    (${sq(`options|${key(c)}`)}) specs=(${opts.join(" ")}) ;;`,
        `    (${sq(`subcommands|${key(c)}`)}) specs=(${subs.join(" ")})${pos ? `;${pos}` : ""} ;;`,
      ];
    }),
    "  esac",
    "}",
    "",
    "_guard_complete_kind() {",
    "  case $kind in",
    "    (dir) _files -/ ;;",
    "    (file) _files ;;",
    "    (request) _guard_request_ids ;;",
    "    (choices) compadd -- ${=choices} ;;",
    "    (text) _message 'a value' ;;",
    "  esac",
    "}",
    "",
    "_guard() {",
    "  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} gpath= w kind= choices=",
    "  local -a specs",
    "  local -i i=2 wrapped=0",
    "  while (( i < CURRENT )); do",
    "    w=${words[i]}",
    "    if [[ $w == -- ]]; then",
    '      if _guard_wraps "$gpath"; then wrapped=$(( i + 1 )); break; fi',
    "      (( i += 1 )); continue",
    "    fi",
    "    if [[ $w == -* ]]; then",
    '      _guard_value "$gpath" "$w"',
    "      if [[ -n $kind ]]; then (( i += 2 )); else (( i += 1 )); fi",
    "      continue",
    "    fi",
    '    case "$gpath|$w" in',
    ...caseArms(t.transitions, "      ", (v) => `gpath=${sq(v)}`, true),
    '      (*) if _guard_wraps "$gpath"; then wrapped=$i; break; fi ;;',
    "    esac",
    "    (( i += 1 ))",
    "  done",
    "",
    "  if (( wrapped > 0 )); then",
    "    # The wrapped command, completed as if it were typed on its own.",
    '    words=("${(@)words[wrapped,-1]}")',
    "    (( CURRENT -= wrapped - 1 ))",
    "    _normal",
    "    return",
    "  fi",
    '  if [[ $prev == -* ]]; then',
    '    _guard_value "$gpath" "$prev"',
    "    if [[ -n $kind ]]; then _guard_complete_kind; return; fi",
    "  fi",
    "  if [[ $cur == -* ]]; then",
    '    _guard_words "$gpath" options',
    "    _describe -t options option specs",
    "    return",
    "  fi",
    '  _guard_words "$gpath" subcommands',
    "  if (( ${#specs} )); then",
    "    _describe -t commands command specs",
    "    return",
    "  fi",
    '  if _guard_wraps "$gpath"; then',
    '    words=("${(@)words[CURRENT,-1]}")',
    "    CURRENT=1",
    "    _normal",
    "    return",
    "  fi",
    "  _guard_complete_kind",
    "}",
    "",
    "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then",
    '  _guard "$@"',
    "else",
    "  compdef _guard guard",
    "fi",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// fish
// ---------------------------------------------------------------------------------------------

function fishScript(t: Tables, model: CommandSpec): string {
  const lines: string[] = [
    "# fish completion for guard, generated by `guard completion fish` from guard's own command table.",
    "# Install: guard completion fish > ~/.config/fish/completions/guard.fish",
    "",
    "function __guard_wraps",
    "    switch $argv[1]",
    ...(t.wrapping.length ? [`        case ${t.wrapping.map(fq).join(" ")}`, "            return 0"] : []),
    "    end",
    "    return 1",
    "end",
    "",
    "# Prints what follows option $argv[2] of command $argv[1]: a kind, or nothing for a flag.",
    "function __guard_value",
    '    switch "$argv[1]|$argv[2]"',
    ...t.values.flatMap(([k, v]) => [`        case ${fq(k)}`, `            echo ${v.kind}`]),
    "    end",
    "end",
    "",
    "# Where the command line is: `path:<command path>`, or `wrapped` and the wrapped command's words.",
    "function __guard_scan",
    "    set -l tokens (commandline -opc)",
    "    set -e tokens[1]",
    "    set -l gpath ''",
    "    set -l i 1",
    "    set -l n (count $tokens)",
    "    while test $i -le $n",
    "        set -l w $tokens[$i]",
    "        set i (math $i + 1)",
    "        if test \"$w\" = '--'",
    "            if __guard_wraps \"$gpath\"",
    "                echo wrapped",
    "                test $i -le $n; and printf '%s\\n' $tokens[$i..-1]",
    "                return",
    "            end",
    "            continue",
    "        end",
    "        if string match -q -- '-*' $w",
    "            if test -n \"$(__guard_value \"$gpath\" \"$w\")\"",
    "                set i (math $i + 1)",
    "            end",
    "            continue",
    "        end",
    '        switch "$gpath|$w"',
    ...t.transitions.flatMap(([k, v]) => [`            case ${fq(k)}`, `                set gpath ${fq(v)}`]),
    "            case '*'",
    "                if __guard_wraps \"$gpath\"",
    "                    echo wrapped",
    "                    printf '%s\\n' $tokens[(math $i - 1)..-1]",
    "                    return",
    "                end",
    "        end",
    "    end",
    '    echo "path:$gpath"',
    "end",
    "",
    "function __guard_at",
    "    set -l s (__guard_scan)",
    '    test "$s[1]" = "path:$argv[1]"',
    "end",
    "",
    "function __guard_wrapped",
    "    set -l s (__guard_scan)",
    '    test "$s[1]" = wrapped',
    "end",
    "",
    "# The wrapped command's own completions, as if it were typed on its own. Always given a command line:",
    "# without one, `complete -C` would complete guard's own command line again.",
    "function __guard_complete_wrapped",
    "    set -l s (__guard_scan)",
    "    set -l prefix ''",
    '    if test "$s[1]" = wrapped',
    "        for w in $s[2..-1]",
    '            set prefix "$prefix"(string escape -- $w)\' \'',
    "        end",
    "    end",
    "    set -l ct (commandline -ct)",
    '    complete --do-complete="$prefix$ct"',
    "end",
    "",
    "# Pending and approved request ids, from the store guard is configured with (one `guard requests`).",
    "function __guard_request_ids",
    "    set -l cmd (commandline -opc)[1]",
    "    if command -q timeout",
    "        timeout 3 $cmd requests --json </dev/null 2>/dev/null | string match -ar 'r-[a-z2-7]{20}' | sort -u",
    "    else",
    "        $cmd requests --json </dev/null 2>/dev/null | string match -ar 'r-[a-z2-7]{20}' | sort -u",
    "    end",
    "end",
    "",
    "complete -c guard -f",
    "complete -c guard -n __guard_wrapped -a '(__guard_complete_wrapped)'",
  ];
  for (const c of flatten(model)) {
    const at = `-n ${fq(`__guard_at ${fq(key(c))}`)}`;
    for (const s of c.subcommands) lines.push(`complete -c guard ${at} -a ${fq(s.path.at(-1)!)} -d ${fq(s.description)}`);
    for (const o of c.options) {
      const names = o.names.map((n) => (n.startsWith("--") ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(" ");
      const value = { none: "", text: " -x", dir: " -x -a '(__fish_complete_directories)'", file: " -r -F", request: " -x -a '(__guard_request_ids)'", choices: ` -x -a ${fq(choicesOf(o.value))}` }[o.value.kind];
      lines.push(`complete -c guard ${at} ${names}${value} -d ${fq(o.description)}`);
    }
    const p = c.positional;
    if (p.kind === "command") lines.push(`complete -c guard ${at} -a '(__guard_complete_wrapped)'`);
    if (p.kind === "request") lines.push(`complete -c guard ${at} -a '(__guard_request_ids)'`);
    if (p.kind === "choices") lines.push(`complete -c guard ${at} -a ${fq(p.choices.join(" "))}`);
  }
  return [...lines, ""].join("\n");
}
