/**
 * Every field of every record, one at a time, given a value of another type by a store writer: a table,
 * not a sample (the random store edits are test/commands/run-hostile.test.ts). A genuine history by
 * guard's own commands with real ssh-keygen keys (a request never approved; one approved by bob and run,
 * so consumed), then for each path in the unapproved request's record, in the consumed request's
 * approval and in its consumption record, each of an object, a list, a number, null and text with a
 * terminal escape put there. For every one:
 *
 * - `guard requests --all` (plain and at a terminal) and `guard show`, `guard run --request` and (for
 *   the unapproved request) `guard approve` of the request whose record was edited answer with a
 *   documented code, never an internal error (70), and print nothing raw;
 * - `guard approve` of the edited request never succeeds (what bob would sign is not what alice signed);
 * - `guard run --request` of it never runs (one is unapproved, the other used).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveCommand } from "../../src/commands/approve.js";
import { requestCommand } from "../../src/commands/request.js";
import { requestsCommand, showCommand } from "../../src/commands/requests.js";
import { runCommand } from "../../src/commands/run.js";
import { MemoryPlace } from "../../src/adapters/store/memory.js";
import { canonicalJson } from "../../src/core/canonical.js";
import { exitCodeOf, type TestRuntime } from "../helpers/runtime.js";
import { copyPlace, expectAnswered } from "../helpers/store-edits.js";
import { makeProject, type Project } from "./project.js";

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const purge = (ticket: string): string[] => ["./maintenance/purge-lb-state.sh", "--all", `--ticket=${ticket}`];
const VALUES: unknown[] = [{ x: 1 }, ["x"], 7, null, "\u001b[2Jx"];

let p: Project;
let genuine: MemoryPlace;
let unapproved = "";
let consumed = "";

beforeAll(async () => {
  p = await makeProject();
  genuine = new MemoryPlace();
  const ask = async (ticket: string): Promise<string> => {
    const alice = p.runtime({ as: "alice", env: PROD, place: genuine });
    expect(await exitCodeOf(alice, () => requestCommand(purge(ticket), { reason: "INC-7" }, alice)), alice.stderr()).toBe(0);
    return alice.stdout().trim();
  };
  unapproved = await ask("unapproved");
  consumed = await ask("consumed");
  const bob = p.runtime({ as: "bob", env: PROD, place: genuine });
  expect(await exitCodeOf(bob, () => approveCommand(consumed, { yes: true }, bob)), bob.stderr()).toBe(0);
  const run = p.runtime({ as: "alice", env: PROD, place: genuine });
  expect(await exitCodeOf(run, () => runCommand([], { request: consumed, confirm: "production" }, run)), run.stderr()).toBe(0);
}, 60_000);
afterAll(async () => p?.cleanup());

/** Every path to a value in a JSON tree, the root excluded. */
function paths(v: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const here = (k: string | number, x: unknown): void => {
    out.push([...at, k], ...paths(x, [...at, k]));
  };
  if (Array.isArray(v)) v.forEach((x, i) => here(i, x));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) here(k, x);
  return out;
}

/**
 * The request binds ~80 environment variables, each {sha256, shown}: two of them stand for the rest (one
 * set, one unset), or they would be most of the table.
 */
const sampled = (path: Array<string | number>): boolean => !(path[0] === "request" && path[1] === "env" && path.length > 2 && !["DATABASE_URL", "ALL_PROXY"].includes(String(path[2])));

function withValue(text: string, path: Array<string | number>, value: unknown): string {
  const root = JSON.parse(text) as Record<string | number, unknown>;
  const parent = path.slice(0, -1).reduce<Record<string | number, unknown>>((o, k) => o[k] as Record<string | number, unknown>, root);
  parent[path.at(-1)!] = value;
  return JSON.stringify(root);
}

interface Target {
  name: string;
  text(place: MemoryPlace): string;
  put(place: MemoryPlace, text: string): void;
}

const targets = (): Target[] => {
  const approvalName = [...genuine.approvals.get(consumed)!.keys()][0]!;
  return [
    { name: "the unapproved request", text: (pl) => pl.requests.get(unapproved)!, put: (pl, t) => void pl.requests.set(unapproved, t) },
    { name: "the consumed request's approval", text: (pl) => pl.approvals.get(consumed)!.get(approvalName)!, put: (pl, t) => void pl.approvals.get(consumed)!.set(approvalName, t) },
    { name: "the consumption record", text: (pl) => pl.consumptions.get(consumed)!, put: (pl, t) => void pl.consumptions.set(consumed, t) },
  ];
};

async function answer(place: MemoryPlace, who: string, body: (rt: TestRuntime) => Promise<void>, what: string, opts: { terminal?: boolean } = {}): Promise<number> {
  const rt = p.runtime({ as: who, env: { ...PROD, ...(opts.terminal ? { COLUMNS: "200" } : {}) }, place });
  if (opts.terminal) rt.terminal.stdout().isTTY = true;
  const code = await exitCodeOf(rt, () => body(rt));
  return expectAnswered({ code, stdout: rt.stdout(), stderr: rt.stderr() }, what);
}

describe("every field of a stored record, given a value of another type (a table)", () => {
  it("documented codes, nothing raw; the edited request is never approved, and nothing runs", async () => {
    let cases = 0;
    for (const target of targets()) {
      for (const path of paths(JSON.parse(target.text(genuine))).filter(sampled)) {
        for (const value of VALUES) {
          const place = copyPlace(genuine);
          const edited = withValue(target.text(place), path, value);
          if (canonicalJson(JSON.parse(edited)) === canonicalJson(JSON.parse(target.text(place)))) continue; // (it held that value)
          target.put(place, edited);
          const what = `${target.name}: ${path.join(".")} = ${JSON.stringify(value)}`;
          cases++;
          // The commands that read what was edited: the listing (plain and as a table) reads every record;
          // show, run and approve the request whose record it is.
          const mine = target.name === "the unapproved request" ? unapproved : consumed;
          await answer(place, "bob", (rt) => requestsCommand({ all: true }, rt), `${what}; requests --all`);
          await answer(place, "bob", (rt) => requestsCommand({ all: true }, rt), `${what}; requests --all at a terminal`, { terminal: true });
          await answer(place, "bob", (rt) => showCommand(mine, {}, rt), `${what}; show`);
          expect(await answer(place, "alice", (rt) => runCommand([], { request: mine, confirm: "production" }, rt), `${what}; run`), `${what}; run`).not.toBe(0);
          if (mine === unapproved) expect(await answer(place, "bob", (rt) => approveCommand(unapproved, { yes: true }, rt), `${what}; approve`), `${what}; approve`).not.toBe(0);
        }
      }
    }
    expect(cases).toBeGreaterThan(150);
  }, 300_000);
});
