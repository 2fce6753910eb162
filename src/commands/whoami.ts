/**
 * `guard whoami`: the key you sign with (and its public line, to paste into a policy), the principal and
 * groups it maps to, and the mode in force. Without any policy configured — a new teammate outside a
 * project — it still shows the key: the principal is "not in a policy".
 */
import { isAbsolute } from "node:path";
import type { CommonOptions } from "./options.js";
import { NoPolicyError } from "../core/errors.js";
import { asciiIdentifier, escapeForTerminal } from "../core/escape.js";
import { formatPublicKey } from "../core/sshkey.js";
import { colours, printJson, printStdout, stdoutStream } from "../adapters/output.js";
import type { Signer } from "../adapters/signer.js";
import type { Runtime } from "../runtime.js";
import { Context, principalForKey } from "./context.js";

export async function whoamiCommand(opts: CommonOptions, rt: Runtime): Promise<void> {
  let ctx: Context;
  try {
    ctx = await Context.create(rt, opts);
  } catch (err) {
    if (!(err instanceof NoPolicyError)) throw err;
    return whoamiWithoutPolicy(rt, opts, err);
  }
  try {
    await whoamiInContext(ctx, opts);
  } finally {
    await ctx.close();
  }
}

function keyInfo(signer: Signer, source: string | null): Record<string, unknown> {
  return { path: signer.keyPath, type: signer.publicKey.type, fingerprint: signer.publicKey.fingerprint, source, line: formatPublicKey(signer.publicKey) };
}

function printKey(signer: Signer): void {
  printStdout(`key:        ${escapeForTerminal(signer.keyPath)} (${signer.publicKey.type})`);
  printStdout(`            ${signer.publicKey.fingerprint}`);
  printStdout(`key line:   ${escapeForTerminal(formatPublicKey(signer.publicKey))}`);
}

async function whoamiWithoutPolicy(rt: Runtime, opts: CommonOptions, noPolicy: NoPolicyError): Promise<void> {
  const env = rt.env;
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : rt.homedir();
  // As the settings resolved it before finding no policy (flag, GUARD_KEY, `key:` in guard.config.yaml).
  const { key: setting, keySource: source } = noPolicy.keySetting;
  const signer = await rt.loadSigner({ setting, source: setting === null ? undefined : source, env, home, interactive: rt.terminal.stdinIsTTY() });
  if (opts.json) {
    printJson({ key: keyInfo(signer, source), principal: null, groups: [], mode: null, policy: null, store: null });
    return;
  }
  const c = colours(stdoutStream());
  printKey(signer);
  printStdout(`principal:  ${c.yellow("not in a policy")} — ${escapeForTerminal(noPolicy.message)}`);
  printStdout(`            to be added, give the key line above to whoever keeps your team's policy; it goes under`);
  printStdout(`            principals: YOURNAME: { keys: ["<key line>"], groups: [...] }`);
}

async function whoamiInContext(ctx: Context, opts: CommonOptions): Promise<void> {
  const signer = await ctx.signer();
  const { policy, dir } = await ctx.policy();
  const principal = principalForKey(policy, signer.publicKey);
  const s = ctx.settings;
  const info = {
    key: keyInfo(signer, s.keySource ?? null),
    principal: principal?.name ?? null,
    groups: principal?.groups ?? [],
    mode: s.mode,
    policy: { dir, digest: policy.digest, source: s.policySource },
    store: s.store.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@"),
  };
  if (opts.json) {
    printJson(info);
    return;
  }
  const c = colours(stdoutStream());
  printKey(signer);
  printStdout(
    principal
      ? `principal:  ${c.bold(asciiIdentifier(principal.name))}  groups: ${principal.groups.join(", ") || "(none)"}`
      : `principal:  ${c.yellow("none")} — this key is not listed in the policy; you can run unprotected work, but not request or approve protected runs (add the key line above under principals:)`,
  );
  printStdout(`policy:     ${escapeForTerminal(dir)} (${info.policy.source}) digest ${policy.digest.slice(0, 16)}…`);
  printStdout(`store:      ${escapeForTerminal(info.store)}`);
  printStdout(
    s.mode === "pinned"
      ? `mode:       ${c.green("pinned")} — the system configuration fixes the policy and store`
      : `mode:       ${c.yellow("guardrail")} — guard stops accidents; with production credentials on this machine it can be bypassed`,
  );
}
