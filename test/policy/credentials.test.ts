/**
 * `credentials:` of an environment (issue 15): read strictly, every problem with file:line:col, never a
 * silent fallback that would mint something else or nothing.
 */
import { describe, expect, it } from "vitest";
import { VALID, codes, errors, located, parseOne } from "./helpers.js";

/** VALID with `credentials:` (given indented under it, 6 spaces) in production; it starts on line 6. */
const withCredentials = (body: string) => parseOne(VALID.replace("    aliases: [prod]\n", `    aliases: [prod]\n    credentials:\n${body}`));

describe("credentials: postgres", () => {
  it("normalises admin, grant, export and ttl (default 15m)", () => {
    const r = withCredentials('      postgres:\n        admin: "env:GUARD_PG_ADMIN_URL"\n        grant: [elb_maintainer, Reporting]\n        export: DATABASE_URL\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.policy!.environments.production!.credentials).toEqual({
      type: "postgres",
      admin: { kind: "env", name: "GUARD_PG_ADMIN_URL" },
      grant: ["elb_maintainer", "Reporting"],
      export: "DATABASE_URL",
      ttlSeconds: 900,
    });
    expect(r.policy!.environments.staging!.credentials).toBeUndefined();
  });

  it("reads a file source and a ttl", () => {
    const r = withCredentials('      postgres:\n        admin: "file:/etc/access-guard/pg-admin.url"\n        grant: [m]\n        export: PGURL\n        ttl: 1h\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.policy!.environments.production!.credentials).toMatchObject({ admin: { kind: "file", path: "/etc/access-guard/pg-admin.url" }, ttlSeconds: 3600 });
  });

  it.each([
    ["an admin that is a URL, not a source", '        admin: "postgres://postgres:pw@db/x"\n        grant: [m]\n        export: DATABASE_URL\n', ["bad-secret-source@8:16"]],
    ["a relative file source", '        admin: "file:etc/x"\n        grant: [m]\n        export: DATABASE_URL\n', ["bad-secret-source@8:16"]],
    ["a file source with ..", '        admin: "file:/etc/../root/x"\n        grant: [m]\n        export: DATABASE_URL\n', ["bad-secret-source@8:16"]],
    ["a missing grant", '        admin: "env:A"\n        export: DATABASE_URL\n', ["missing-field@8:9"]],
    ["an empty grant", '        admin: "env:A"\n        grant: []\n        export: DATABASE_URL\n', ["empty-list@9:16"]],
    ["a pg_ built-in role", '        admin: "env:A"\n        grant: [pg_write_server_files]\n        export: DATABASE_URL\n', ["bad-role@9:17"]],
    ["PUBLIC", '        admin: "env:A"\n        grant: [public]\n        export: DATABASE_URL\n', ["bad-role@9:17"]],
    ["a role name with a quote", '        admin: "env:A"\n        grant: [\'a"b\']\n        export: DATABASE_URL\n', ["bad-role@9:17"]],
    ["a role listed twice", '        admin: "env:A"\n        grant: [m, m]\n        export: DATABASE_URL\n', ["duplicate-grant@9:20"]],
    ["an export that is not a variable name", '        admin: "env:A"\n        grant: [m]\n        export: "DATABASE-URL"\n', ["bad-variable@10:17"]],
    ["an export that is the admin variable", '        admin: "env:DATABASE_URL"\n        grant: [m]\n        export: DATABASE_URL\n', ["export-is-admin@10:17"]],
    ["a ttl without a unit", '        admin: "env:A"\n        grant: [m]\n        export: DATABASE_URL\n        ttl: 15\n', ["wrong-type@11:14"]],
    ["a ttl over a day", '        admin: "env:A"\n        grant: [m]\n        export: DATABASE_URL\n        ttl: 2d\n', ["out-of-range@11:14"]],
    ["a misspelled field", '        admin: "env:A"\n        grants: [m]\n        export: DATABASE_URL\n', ["missing-field@8:9", "unknown-field@9:9"]],
  ])("refuses %s, with file:line:col", (_what, body, expected) => {
    const r = withCredentials(`      postgres:\n${body}`);
    expect(r.policy).toBeUndefined();
    expect(located(errors(r))).toEqual(expected);
  });
});

describe("credentials: command", () => {
  it("normalises run, revoke and timeout (default 30s)", () => {
    const r = withCredentials('      command:\n        run: ["/usr/local/bin/mint", "--for", "prod"]\n        revoke: ["/usr/local/bin/revoke"]\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.policy!.environments.production!.credentials).toEqual({ type: "command", run: ["/usr/local/bin/mint", "--for", "prod"], revoke: ["/usr/local/bin/revoke"], timeoutSeconds: 30 });
  });

  it("revoke is optional", () => {
    const r = withCredentials('      command:\n        run: ["/bin/mint"]\n        timeout: 5s\n');
    expect(r.policy!.environments.production!.credentials).toEqual({ type: "command", run: ["/bin/mint"], revoke: null, timeoutSeconds: 5 });
  });

  it.each([
    ["a relative program", '        run: ["mint-token"]\n', ["relative-command@8:15"]],
    ["a relative revoke program", '        run: ["/bin/mint"]\n        revoke: ["./revoke"]\n', ["relative-command@9:18"]],
    ["an empty run", "        run: []\n", ["empty-list@8:14"]],
    ["a run that is a string", '        run: "/bin/mint --x"\n', ["wrong-type@8:14"]],
    ["a non-string argument", '        run: ["/bin/mint", 3]\n', ["wrong-type@8:28"]],
    ["a timeout over 5m", '        run: ["/bin/mint"]\n        timeout: 10m\n', ["out-of-range@9:18"]],
  ])("refuses %s, with file:line:col", (_what, body, expected) => {
    const r = withCredentials(`      command:\n${body}`);
    expect(r.policy).toBeUndefined();
    expect(located(errors(r))).toEqual(expected);
  });
});

describe("credentials: the provider", () => {
  it("needs one", () => {
    expect(located(errors(withCredentials("      {}\n")))).toEqual(["credentials-provider@7:7"]);
  });
  it("takes exactly one", () => {
    const r = withCredentials('      postgres: { admin: "env:A", grant: [m], export: DATABASE_URL }\n      command: { run: ["/bin/mint"] }\n');
    expect(codes(errors(r))).toEqual(["credentials-provider"]);
  });
  it("an unknown provider is an unknown field", () => {
    expect(codes(errors(withCredentials('      vault: { path: "x" }\n')))).toEqual(["credentials-provider", "unknown-field"]);
  });
});
