/** `guard whoami`: the key you sign with, the principal and groups it maps to, and the mode in force. */
import type { CommonOptions } from "../cli.js";
import { asciiIdentifier } from "../core/escape.js";
import { colours, printJson, printStdout, stdoutStream } from "../adapters/output.js";
import { withContext } from "./context.js";
import { principalForKey } from "./context.js";

export async function whoamiCommand(opts: CommonOptions): Promise<void> {
  await withContext(opts, async (ctx) => {
    const signer = await ctx.signer();
    const { policy, dir } = await ctx.policy();
    const principal = principalForKey(policy, signer.publicKey);
    const s = ctx.settings;
    const info = {
      key: { path: signer.keyPath, type: signer.publicKey.type, fingerprint: signer.publicKey.fingerprint, source: s.keySource ?? null },
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
    printStdout(`key:        ${info.key.path} (${info.key.type})`);
    printStdout(`            ${info.key.fingerprint}`);
    printStdout(
      principal
        ? `principal:  ${c.bold(asciiIdentifier(principal.name))}  groups: ${principal.groups.join(", ") || "(none)"}`
        : `principal:  ${c.yellow("none")} — this key is not listed in the policy; you can run unprotected work, but not request or approve protected runs`,
    );
    printStdout(`policy:     ${dir} (${info.policy.source}) digest ${policy.digest.slice(0, 16)}…`);
    printStdout(`store:      ${info.store}`);
    printStdout(
      s.mode === "pinned"
        ? `mode:       ${c.green("pinned")} — the system configuration fixes the policy and store`
        : `mode:       ${c.yellow("guardrail")} — guard stops accidents; with production credentials on this machine it can be bypassed`,
    );
  });
}
