import type { Diagnostic } from "../errors.js";
import type { Detector, Policy, RuleMatch } from "../types.js";
import { DETECTORS, kindOf } from "../detectors/registry.js";
import { diagnosticAt } from "./diagnostics.js";
import { eligiblePrincipals } from "./merge.js";
import type { RuleDef } from "./read-policy-file.js";

/**
 * Warnings about a valid policy that probably does not say what its author meant (shown by `guard policy
 * lint`): rules that can never change a decision, thresholds that lock group members out of their own
 * runs, protected environments that nothing detects.
 */
export function lintPolicy(policy: Policy, rules: readonly RuleDef[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  rules.forEach((later, j) => {
    const shadow = rules.slice(0, j).find((earlier) => earlier.rule.effect.type === "deny" && covers(earlier.rule.match, later.rule.match));
    if (shadow) {
      out.push(
        diagnosticAt("warning", later.at, "shadowed-rule", `rule \`${later.rule.name}\` can never change a decision: the deny rule \`${shadow.rule.name}\` (${shadow.at.file}:${shadow.at.line}) matches every run it matches`, "narrow or remove one of the two rules"),
      );
    }
    const effect = later.rule.effect;
    // A policy of one person (as `guard init` writes it) is not yet a team: `guard policy lint` says so in
    // its summary, rather than warning about every rule that person's approvals would be needed for.
    if (effect.type === "require" && later.approvalsAt && Object.keys(policy.principals).length > 1) {
      const eligible = eligiblePrincipals(policy.principals, effect.from);
      if (effect.approvals === eligible.length) {
        out.push(
          diagnosticAt("warning", later.approvalsAt, "approvals-whole-group", `rule \`${later.rule.name}\` needs ${effect.approvals} approvals from exactly ${eligible.length} eligible principals (${eligible.join(", ")}): none of them can ever get their own run approved`, "lower `approvals` or add principals, so that a member's run can still collect enough approvals from others"),
        );
      }
    }
  });
  for (const def of rules) {
    const w = presenceOnlyAllow(def);
    if (w) out.push(w);
  }
  for (const env of Object.values(policy.environments)) {
    for (const d of env.detect) {
      const w = d.at === undefined ? undefined : missedSpelling(d);
      if (w && d.at) out.push(diagnosticAt("warning", d.at, "detector-misses-spellings", w.message, w.hint));
    }
    if (env.protected && env.detect.length === 0 && env.at) {
      out.push(diagnosticAt("warning", env.at, "protected-undetectable", `protected environment \`${env.name}\` has no detectors, so guard only knows it is the target when someone says so with --env`, `add \`detect:\` entries (${[...DETECTORS.flatMap((k) => k.examples), "..."].join(", ")}) that recognise it`));
    }
  }
  return out;
}

/** Whether every run that `b` matches is also matched by `a` (conservatively: false when unsure). */
function covers(a: RuleMatch, b: RuleMatch): boolean {
  const envs = !a.environments || (!!b.environments && b.environments.every((e) => a.environments!.includes(e)));
  const commands = !a.commands || (!!b.commands && b.commands.every((c) => a.commands!.includes(c) || a.commands!.includes("**") || (!c.includes("/") && a.commands!.includes("*"))));
  // `b` requires each of its args globs to match; if `a`'s globs are among them, whatever matches `b` matches `a`.
  const args = !a.args || (!!b.args && a.args.every((g) => b.args!.includes(g)));
  return envs && commands && args;
}

/**
 * A detector that recognises one spelling of a connection and misses the equivalent ones. A value no
 * detector recognises is refused (undetermined), so such a glob turns ordinary runs into refusals — or,
 * worse, pushes people to unset the variable. The principle: a detector names the *server*, not the way
 * it is written. Guard already folds case and percent-encoding, and reads `postgres://`, `postgresql://`
 * and key=value conninfo into `postgresql://[user@]host[:port]/dbname` (a glob is also tried on the
 * spelling as given), so a glob must not require a particular scheme, a user part (`@`) or a port.
 */
function missedSpelling(d: Detector): { message: string; hint: string } | undefined {
  const checked = kindOf(d.type)?.spelling?.(d);
  if (checked === undefined) return undefined;
  const { matcher, subject } = checked;
  const hint = "match the host name alone, e.g. `*prod-db.*`: guard reads URLs and conninfo the way libpq does, so that covers every spelling";
  if (matcher.kind === "equals" && /^[a-z][a-z0-9+.-]*:\/\//i.test(matcher.value)) {
    return { message: `${subject} equals the URL ${JSON.stringify(matcher.value)}: any other spelling of the same server (another scheme, a user, a port, a parameter) matches nothing and is refused as unrecognised`, hint };
  }
  if (matcher.kind !== "glob") return undefined;
  const g = matcher.pattern;
  const scheme = /^(postgres|postgresql):\/\//i.exec(g);
  if (scheme) {
    const other = scheme[1]?.toLowerCase() === "postgres" ? "postgresql://" : "postgres://";
    return { message: `${subject} glob ${JSON.stringify(g)} requires the scheme ${scheme[0]}, so a URL spelled ${other} or a key=value conninfo (host=…) for the same server is refused as unrecognised`, hint };
  }
  if (/[^*]@|^@|\*@[a-z0-9]/i.test(g) && /@/.test(g) && /:\/\/|postgres/i.test(g)) {
    return { message: `${subject} glob ${JSON.stringify(g)} requires a user part (…@host), so a URL without a user or a key=value conninfo for the same server is refused as unrecognised`, hint };
  }
  return undefined;
}

/** Argument globs that are a bare word: they test whether the word appears anywhere, not what it is. */
const BARE_WORD = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/**
 * An allow whose argument globs are bare words (`args: ["logs"]`) matches whenever the word appears
 * anywhere: as a flag's value (`kubectl -n logs exec …`), a resource name, a file name. For deny and
 * require that errs on the safe side; for an allow it lets other verbs through.
 */
function presenceOnlyAllow(def: RuleDef): Diagnostic | undefined {
  const r = def.rule;
  if (r.effect.type !== "allow" || !r.match.args || r.match.args.length === 0) return undefined;
  if (!r.match.args.every((a) => BARE_WORD.test(a))) return undefined;
  return diagnosticAt(
    "warning",
    def.at,
    "args-presence-only",
    `rule \`${r.name}\` allows whenever ${r.match.args.map((a) => `\`${a}\``).join(" and ")} appears anywhere in the arguments, also as another flag's value or a file name (\`kubectl -n logs exec …\` has \`logs\` as its namespace), so it lets other verbs through`,
    "allow the command without `args` and name what must not pass in deny or require rules: those win over an allow, and presence errs on their safe side (see examples/kubectl)",
  );
}
