/**
 * What every command needs, resolved once: settings (flag → variable → guard.config.yaml → default,
 * or pinned by the system configuration), the policy, the store and the signing key — each loaded only
 * when a command asks for it.
 */
import { dirname, resolve } from "node:path";
import type { CommonOptions } from "./options.js";
import { resolveSettings, type Settings } from "../adapters/config.js";
import { loadPolicyDir } from "../adapters/policy-files.js";
import type { AuditActor, Policy, Principal, PublicKey } from "../core/types.js";
import type { Diagnostic } from "../core/errors.js";
import type { Store } from "../adapters/store/types.js";
import type { Signer } from "../adapters/signer.js";
import { setJsonErrors, useTerminal } from "../adapters/output.js";
import type { Runtime } from "../runtime.js";
import { assertOwnedByInvoker, resolveInvoker, type Invoker } from "../adapters/run-as.js";

/** What a refusal of a command is recorded as (audit-events.ts): the event type, and what is known before anything ran. */
export interface RefusalScope {
  type: "run.refused" | "request.refused" | "approval.refused";
  /** The request the command is about, when it names one. */
  requestId?: string;
  /** Facts known before anything ran (the argv given, approve or deny). */
  data?: Record<string, unknown>;
}

export interface LoadedPolicy {
  policy: Policy;
  warnings: Diagnostic[];
  dir: string;
}

export class Context {
  private policyPromise?: Promise<LoadedPolicy>;
  private storePromise?: Promise<Store>;
  private signerPromise?: Promise<Signer>;
  private clockPromise?: Promise<number>;
  private invokerResolved?: { value: Invoker | null };

  /**
   * What a refusal of this command is recorded with (audit-events.ts): the scope withContext was given,
   * the actor once the signing key is known (identify), and data a refusing step handed over.
   */
  readonly refusal: { scope?: RefusalScope; actor?: AuditActor; pending?: { actor: AuditActor; data: Record<string, unknown> } } = {};

  /** The working directory and environment the command was started with (the runtime's). */
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;

  private constructor(
    /** What the command takes from the process it runs in (runtime.ts): never `process` itself. */
    readonly rt: Runtime,
    readonly settings: Settings,
    readonly opts: CommonOptions,
  ) {
    this.cwd = rt.cwd;
    this.env = rt.env;
  }

  static async create(rt: Runtime, opts: CommonOptions): Promise<Context> {
    useTerminal(rt.terminal);
    setJsonErrors(Boolean(opts.json));
    const settings = await resolveSettings({
      flags: { policy: opts.policy, store: opts.store, key: opts.key },
      env: rt.env,
      cwd: rt.cwd,
    });
    return new Context(rt, settings, opts);
  }

  get home(): string {
    return this.env.HOME || this.rt.homedir();
  }

  get host(): string {
    return this.rt.hostname();
  }

  get user(): string {
    try {
      return this.rt.username();
    } catch {
      return this.rt.uid >= 0 ? String(this.rt.uid) : "unknown";
    }
  }

  /** The directory that holds the policy directory: command globs with a '/' are relative to it. */
  get policyRoot(): string {
    return dirname(resolve(this.cwd, this.settings.policyDir));
  }

  policy(): Promise<LoadedPolicy> {
    this.policyPromise ??= loadPolicyDir(resolve(this.cwd, this.settings.policyDir), { cacheDir: this.settings.policyCache, cwd: this.cwd }).then((r) => ({
      policy: r.policy,
      warnings: r.warnings,
      dir: resolve(this.cwd, this.settings.policyDir),
    }));
    return this.policyPromise;
  }

  /**
   * The store, opened once. `create: false` for commands that only read the audit log: a missing store
   * there is an error to report (a deleted log, a mistyped path), never an empty log that "verifies".
   */
  store(opts: { create?: boolean } = {}): Promise<Store> {
    this.storePromise ??= this.rt.openStore(this.settings.store, { create: opts.create ?? true });
    return this.storePromise;
  }

  /**
   * The time every decision of this command is made at — freezes, expiry, approvals, the refusal rate
   * limit: the store's clock (PostgreSQL: the server's), read once and handed to the pure core as a
   * parameter. One clock decides: a freeze and the approvals that end it are judged at the same instant.
   */
  now(): Promise<number> {
    this.clockPromise ??= this.store().then((s) => s.now());
    return this.clockPromise;
  }

  /**
   * The store's clock read again, for a command that waits or writes a record: what it decides from here
   * on uses this later time (never the local clock).
   */
  tick(): Promise<number> {
    this.clockPromise = this.store().then((s) => s.now());
    return this.clockPromise;
  }

  /**
   * Under `run_as: invoking-user` (system configuration only), the person who invoked sudo: the command
   * and its previews run as them, and they sign with their own key. Null without the setting. Resolved
   * once; a doubt is a refusal (78).
   */
  invoker(): Invoker | null {
    if (!this.invokerResolved) {
      const value = this.settings.runAs === "invoking-user"
        ? resolveInvoker({ env: this.env, uid: this.rt.uid, euid: this.rt.euid, systemConfig: this.settings.systemConfig ?? "" })
        : null;
      this.invokerResolved = { value };
    }
    return this.invokerResolved.value;
  }

  signer(): Promise<Signer> {
    this.signerPromise ??= Promise.resolve().then(async () => {
      // Loaded on first use (runtime.ts): an allowed run signs nothing (docs/benchmarks.md: what a run compiles).
      const signer = await this.rt.loadSigner({ setting: this.settings.key, source: this.settings.keySource, env: this.env, home: this.home, interactive: this.rt.terminal.stdinIsTTY() });
      const inv = this.invoker();
      if (inv) {
        // Root can read every key and reach every agent: the key must be the invoker's own.
        assertOwnedByInvoker(inv, signer.keyPath, "the signing key");
        if (signer.agentOnly && this.env.SSH_AUTH_SOCK) assertOwnedByInvoker(inv, this.env.SSH_AUTH_SOCK, "the ssh-agent socket");
      }
      return signer;
    });
    return this.signerPromise;
  }

  async close(): Promise<void> {
    if (this.storePromise) {
      const store = await this.storePromise.catch(() => undefined);
      await store?.close();
    }
  }
}

/** The principal a key belongs to under the given policy, if any. */
export function principalForKey(policy: Policy, key: Pick<PublicKey, "blob">): Principal | null {
  for (const p of Object.values(policy.principals)) if (p.keys.some((k) => k.blob === key.blob)) return p;
  return null;
}

