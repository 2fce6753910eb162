import { digestOf } from "../canonical.js";
import type { Detector, Environment, Freeze, IdentityProbe, Policy, Principal, PublicKey, Rule, Webhook } from "../types.js";

/**
 * The policy digest that requests bind (issue 17 item 5): SHA-256 over the canonical JSON of the validated
 * model with the presentation-only fields removed — descriptions, source locations (`at`), key comments,
 * and the root directory (where the checkout happens to be on this machine). Comments and layout never
 * reach the model. So a description edit, a reformatted file, or a policy split across files differently
 * keeps open requests valid, while any change to what decides (environments, aliases, detectors,
 * identity probes, credentials, principals and their keys and groups, rules and their order, freezes,
 * break-glass, bind_env, notifications, previews, the default environment) changes the digest and voids them.
 *
 * The fields are removed by name at their known places (not by key anywhere): an environment or
 * principal named `at` or `description` is still bound. A field added to the model later is bound
 * unless it is removed here — new fields fail closed.
 */
export function policyDigest(policy: Policy): string {
  return digestOf({ format: "guard-policy-model/1", model: decidingModel(policy) });
}

/** The model without presentation (exported for tests: what the digest covers). */
export function decidingModel(policy: Policy): unknown {
  const { root: _root, digest: _digest, environments, principals, rules, freezes, notifications, ...rest } = policy;
  return {
    ...rest,
    environments: mapValues(environments, environment),
    principals: mapValues(principals, principal),
    rules: rules.map(rule),
    freezes: freezes.map(freeze),
    ...(notifications ? { notifications: { ...notifications, webhooks: notifications.webhooks.map(webhook) } } : {}),
  };
}

function mapValues<T, U>(record: Record<string, T>, f: (v: T) => U): Record<string, U> {
  const out: Record<string, U> = Object.create(null);
  for (const [k, v] of Object.entries(record)) out[k] = f(v);
  return out;
}

function environment(e: Environment): unknown {
  const { description: _d, at: _at, detect, identity, ...rest } = e;
  return { ...rest, detect: detect.map(detector), ...(identity ? { identity: identity.map(probe) } : {}) };
}

function detector(d: Detector): unknown {
  const { at: _at, ...rest } = d;
  return rest;
}

function probe(p: IdentityProbe): unknown {
  const { at: _at, ...rest } = p;
  return rest;
}

function principal(p: Principal): unknown {
  const { at: _at, keys, ...rest } = p;
  return { ...rest, keys: keys.map(key) };
}

function key(k: PublicKey): unknown {
  const { comment: _c, ...rest } = k;
  return rest;
}

function rule(r: Rule): unknown {
  const { description: _d, at: _at, ...rest } = r;
  return rest;
}

function freeze(f: Freeze): unknown {
  const { at: _at, ...rest } = f;
  return rest;
}

function webhook(w: Webhook): unknown {
  const { at: _at, ...rest } = w;
  return rest;
}
