/**
 * The command table. guard's own modules are imported statically, so the build puts them in one entry
 * chunk: loading one file costs less at start-up than a dozen small chunks. What is heavy and rarely
 * needed stays lazy, imported where it is used: prompts, PostgreSQL, the YAML parser and policy
 * validator (only when the policy cache misses), the schema library, GitHub annotations, webhooks,
 * and the completion generator.
 */
import { Argument, Command, Option } from "commander";
import { existsSync } from "node:fs";
import { writeStderr, writeStdout } from "./adapters/output.js";
import { runCommand } from "./commands/run.js";
import { checkCommand } from "./commands/check.js";
import { approveCommand, denyCommand } from "./commands/approve.js";
import { auditLogCommand, auditVerifyCommand } from "./commands/audit.js";
import { initCommand } from "./commands/init.js";
import { lintCommand, schemaCommand, testCommand } from "./commands/policy.js";
import { requestCommand } from "./commands/request.js";
import { requestsCommand, showCommand } from "./commands/requests.js";
import { migrateCommand, pruneStoreCommand, unlockStoreCommand } from "./commands/store.js";
import { whoamiCommand } from "./commands/whoami.js";

export const SYSTEM_CONFIG = "/etc/access-guard/config.yaml";

/** Replaced with package.json's version by the build (scripts/build.mjs). */
declare const __GUARD_VERSION__: string | undefined;

import type { CommonOptions } from "./commands/options.js";
import type { Runtime } from "./runtime.js";
export type { CommonOptions };

function common(cmd: Command, json = true): Command {
  cmd
    .addOption(new Option("--policy <dir>", "policy directory (else GUARD_POLICY, else `policies:` in guard.config.yaml)"))
    .addOption(new Option("--store <url>", "store: file:/path or postgres://… (else GUARD_STORE, else `store:`, else ~/.local/state/access-guard)"))
    .addOption(new Option("--key <path>", "SSH key to sign with: a private key, or a public key held in ssh-agent (else GUARD_KEY, else `key:`, else ~/.ssh/id_ed25519)"));
  if (json) cmd.option("--json", "machine-readable output on stdout");
  return cmd;
}

function modeLine(): string {
  return existsSync(SYSTEM_CONFIG)
    ? `Mode: pinned — ${SYSTEM_CONFIG} fixes the policy and store; flags and variables cannot override them.`
    : `Mode: guardrail — no ${SYSTEM_CONFIG}; guard stops accidents, but a user who already holds production\ncredentials can bypass it. See README "What guard promises".`;
}

const EXIT_CODES = `
Exit codes:
  0-255 the wrapped command's own status (128+N when signal N ended it)
  64  usage error                 65  integrity failure (store or audit tampered)
  70  internal error              74  store or audit log unavailable
  75  approval needed or pending  77  denied (policy, freeze, target conflict, invalid or replayed approval)
  78  policy or configuration invalid
  126 command not executable      127 command not found
  130 Ctrl-C at a question (while waiting for approval: 75, the request is kept)
When guard refuses, nothing ran and no approval was consumed.`;

/** Top-level command names: entry.ts builds only the one being run. */
export const COMMAND_NAMES: ReadonlySet<string> = new Set(["run", "check", "request", "approve", "deny", "requests", "show", "policy", "audit", "whoami", "init", "completion", "store", "credentials"]);

/**
 * The program. With `only` (the command name from argv), just that command is built: `guard run` in
 * front of every maintenance command should not construct the whole table. Help, completion and
 * anything unrecognised build all of it.
 */
export function buildProgram(rt: Runtime, only?: string): Command {
  const want = (name: string): boolean => only === undefined || only === name;
  const program = new Command("guard")
    .description("Stand between people and production: find the real target of a maintenance command, check it against the policy,\nand require a second person's signed, single-use approval for destructive runs.")
    .version(typeof __GUARD_VERSION__ === "string" ? __GUARD_VERSION__ : "dev", "-V, --version")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: writeStdout, writeErr: writeStderr })
    .exitOverride()
    .addHelpText("after", () => `${EXIT_CODES}\n\nColour: --color or --no-color (before --, any command) win over NO_COLOR and FORCE_COLOR.\n\n${modeLine()}\n`);

  if (want("run")) {
    common(
      program
        .command("run")
        .description("decide, get approvals when needed, confirm, then run the command and exit with its status")
        .usage("[options] -- CMD [ARGS…]")
        .argument("[command...]", "the command and its arguments (after --)")
        .option("--env <name>", "the environment you intend to hit; refused when detection disagrees")
        .option("--reason <text>", "why you are running this (required by some rules)")
        .option("--confirm <env>", "type the environment's name without a terminal (CI)")
        .option("--wait <duration>", "without a terminal: wait this long for approvals (e.g. 10m) instead of exiting 75")
        .option("--request <id>", "run exactly this approved request")
        .option("--break-glass", "emergency: run without approvals (needs --reason; loud, audited, reviewed later)")
        .passThroughOptions()
        .addHelpText(
          "after",
          `
  Examples:
    guard run -- ./maintenance/report-lb-state.sh
    guard run --env production --reason "INC-4211 purge stale state" -- ./maintenance/purge-lb-state.sh --region us-east-1
    guard run --wait 15m --confirm production -- ./maintenance/purge-lb-state.sh   # CI: wait for an approval
    guard run --request r-abcdefghijklmnopqrst                                      # run exactly an approved request`,
        ),
    ).action(async (command: string[], opts) => runCommand(command, opts, rt));
  }

  if (want("check")) {
    common(
      program
        .command("check")
        .description("explain the decision for a command: target and evidence, matched rules, requirements; never runs it")
        .usage("[options] -- CMD [ARGS…]")
        .argument("<command...>")
        .option("--env <name>", "the environment you intend to hit")
        .passThroughOptions()
        .addHelpText("after", "\nExit: 0 allow, 75 approval needed, 77 deny, 78 policy error.\n\nExample:\n  DATABASE_URL=postgres://prod-db.internal/elb guard check -- ./maintenance/purge-lb-state.sh --all"),
    ).action(async (command: string[], opts) => checkCommand(command, opts, rt));
  }

  if (want("request")) {
    common(
      program
        .command("request")
        .description("create a signed request for a run without waiting; prints its id")
        .usage("[options] -- CMD [ARGS…]")
        .argument("<command...>")
        .option("--env <name>", "the environment you intend to hit")
        .option("--reason <text>", "why you are running this")
        .passThroughOptions()
        .addHelpText("after", "\nPrints the request id on stdout (the request object with --json); a colleague approves it with\n`guard approve ID`, then `guard run --request ID` (or the same command again) runs it once.\n\nExample:\n  id=$(guard request --reason \"INC-4211\" -- ./maintenance/purge-lb-state.sh --region us-east-1)"),
    ).action(async (command: string[], opts) => requestCommand(command, opts, rt));
  }

  if (want("approve")) {
    common(
      program
        .command("approve")
        .description("show a request in full, confirm, sign and store your approval (or acknowledge a break-glass run)")
        .argument("<id>", "request id (r-…)")
        .option("--comment <text>", "a note stored with the approval")
        .option("--yes", "confirm without a terminal (you still see the request)")
        .addHelpText(
          "after",
          "\nYou are shown everything the approval binds (argv, program and SHA-256, directory, target and evidence,\nbound variables, requester and key, reason, rules, expiry). At a terminal you type the environment's\nname; without one, --yes. You cannot approve your own request; only the groups the rules name count.\n\nExamples:\n  guard approve r-3k5qzv7n2m4c6b8d0f1h\n  guard approve r-3k5qzv7n2m4c6b8d0f1h --yes --comment \"checked region and ticket\"",
        ),
    ).action(async (id: string, opts) => approveCommand(id, opts, rt));
  }

  if (want("deny")) {
    common(
      program
        .command("deny")
        .description("sign a refusal: the request can no longer run")
        .argument("<id>")
        .option("--reason <text>", "why (asked for at a terminal when left out; required without one)")
        .option("--yes", "accepted as with approve: a refusal needs no typed confirmation")
        .addHelpText("after", "\nA signed refusal by an eligible approver ends the request; the requester may also withdraw their own.\n\nExample:\n  guard deny r-3k5qzv7n2m4c6b8d0f1h --reason \"not during the incident; wait for the rollback\""),
    ).action(async (id: string, opts) => denyCommand(id, opts, rt));
  }

  if (want("requests")) {
    common(
      program
        .command("requests")
        .description("list pending requests (with --all, every request; with --review, break-glass runs awaiting review)")
        .option("--all", "every request, whatever its status")
        .option("--review", "break-glass runs that no second person has acknowledged yet")
        .option("--mine", "only requests made with your key")
        .option("--awaiting-me", "only pending requests your approval would count for")
        .addHelpText("after", "\nExamples:\n  guard requests\n  guard requests --awaiting-me\n  guard requests --all --json | jq '.[] | {id, status}'\n  guard requests --review      # then: guard approve ID  (acknowledges a break-glass run)"),
    ).action(async (opts) => requestsCommand(opts, rt));
  }

  if (want("show")) {
    common(
      program
        .command("show")
        .description("one request with its approvals and status")
        .argument("<id>")
        .addHelpText("after", "\nExample:\n  guard show r-3k5qzv7n2m4c6b8d0f1h --json | jq .status"),
    ).action(
      async (id: string, opts) => showCommand(id, opts, rt),
    );
  }

  if (want("policy")) {
    const policy = program.command("policy").description("validate, test and describe policies");
    common(
      policy
        .command("lint")
        .description("validate the policy: every error and warning with file:line:col")
        .addHelpText("after", "\nExit 0 when valid (warnings are shown), 78 with every located error otherwise.\n\nExample:\n  guard policy lint --policy ./policies"),
    ).action(
      async (opts) => lintCommand(opts, rt),
    );
    common(
      policy
        .command("test")
        .description("run the policy's *.test.yaml suites")
        .addHelpText("after", "\nEnds with `N passed, N failed`; exit 1 on a failure or when there are no tests.\n\nExample:\n  guard policy test --policy ./policies"),
    ).action(async (opts) =>
      testCommand(opts, rt),
    );
    policy
      .command("schema")
      .description("print the JSON Schema of policy files (for `# yaml-language-server: $schema=`)")
      .action(async () => schemaCommand());
  }

  if (want("audit")) {
    const audit = program.command("audit").description("read and verify the tamper-evident audit log");
    common(
      audit
        .command("log")
        .description("read the audit log (a table at a terminal, JSON Lines with --json)")
        .option("--since <time>", "ISO time or a duration ago (e.g. 24h)")
        .option("--type <type>", "event type (run.started) or family (run, approval, request…: every run.*)")
        .option("--request <id>", "events about one request")
        .option("--actor <principal>", "events by one principal or key fingerprint")
      .addHelpText("after", "\nExamples:\n  guard audit log --since 24h --type run\n  guard audit log --request r-3k5qzv7n2m4c6b8d0f1h --json"),
    ).action(async (opts) => auditLogCommand(opts, rt));
    common(
      audit
        .command("verify")
        .description("verify the chain, the signatures it references and single use; print the head for anchoring")
        .option("--anchor <seq:hash>", "a head recorded earlier: detects truncation of the tail")
        .option("--archive <file>", "an archive guard store prune wrote: verify the history it holds too (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
      .addHelpText("after", "\nExit 0 when intact (interrupted runs are reported, not failures), 65 on any tampering.\nA chain cannot see its own tail cut off: record the printed head elsewhere, and pass it back later.\n\nExample:\n  guard audit verify --anchor 1042:3f5c…   # the head printed by an earlier verify"),
    ).action(async (opts) => auditVerifyCommand(opts, rt));
  }

  if (want("whoami")) {
    common(program.command("whoami").description("which key and principal you sign as, and which mode is in force")).action(
      async (opts) => whoamiCommand(opts, rt),
    );
  }

  if (want("init")) {
    program
      .command("init")
      .description("scaffold guard.config.yaml and a policy directory with your key as its first principal")
      .option("--key <path>", "the key to put in the policy")
      .option("--name <principal>", "your principal name (default: from the key's comment, else your login name)")
      .action(async (opts) => initCommand(opts, rt));
  }

  if (want("completion")) {
    program
      .command("completion")
      .description("print a shell completion script for bash, zsh or fish")
      .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]))
      .addHelpText(
        "after",
        `
  Install:
    bash  echo 'source <(guard completion bash)' >> ~/.bashrc
    zsh   guard completion zsh > "\${fpath[1]}/_guard"     (then restart zsh)
    fish  guard completion fish > ~/.config/fish/completions/guard.fish`,
      )
      .action(async (shell: string) => (await import("./commands/completion.js")).completionCommand(shell));
  }

  if (want("store")) {
    const store = program.command("store").description("store maintenance");
    common(store.command("migrate").description("create or migrate the PostgreSQL schema explicitly")).action(async (opts) =>
      migrateCommand(opts, rt),
    );
    common(
      store
        .command("unlock")
        .description("clear the file store's audit lock: a stale one, or one held on another host (--host) once you checked nothing runs there")
        .option("--host <name>", "the host the lock names (required for a lock held on another host)"),
    ).action(async (opts) => unlockStoreCommand(opts, rt));
    common(
      store
        .command("prune")
        .description("retire finished history (expired requests with their approvals, consumptions and events) into an archive; the log still verifies")
        .option("--older-than <duration>", "retire what expired longer ago than this, e.g. 90d (default: `retention:` in the configuration; at least 7d)")
        .option("--archive-dir <dir>", "where the archive goes (default: <store>/archive)")
        .option("--dry-run", "show what would be retired; change nothing")
        .addHelpText("after", "\nOnly a store that verifies is pruned. Keep the archives off this host: guard audit verify --archive FILE checks them.\n\nExample:\n  guard store prune --older-than 90d --archive-dir /srv/guard-archive"),
    ).action(async (opts) => pruneStoreCommand(opts, rt));
  }

  if (want("credentials")) {
    const creds = program.command("credentials").description("per-run credentials (environments' `credentials:`)");
    common(
      creds
        .command("sweep")
        .description("drop per-run PostgreSQL roles left by a guard that was killed (VALID UNTIL passed); roles still valid are left alone")
        .option("--env <name>", "only this environment"),
    ).action(async (opts) => (await import("./commands/credentials.js")).sweepCommand(opts, rt));
  }

  return program;
}
