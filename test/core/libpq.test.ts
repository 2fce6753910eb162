import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connTargets, parseConnString, pgClientArgs, pgServiceSection, renderTarget } from "../../src/core/libpq.js";

/**
 * Every parsing rule of src/core/libpq.ts, each held to the real psql: the table says which servers (or
 * which error) a string means, and psql is asked the same question. Hosts end in `.invalid`, so psql
 * names each host it tries in "could not translate host name" at once, without any network.
 */

const cleanEnv = (): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  return { ...env, PGCONNECT_TIMEOUT: "2", PGSERVICEFILE: "/nonexistent/pg_service.conf", PGSYSCONFDIR: "/nonexistent" };
};

/** What the real client does: the hosts it tried, or its error. */
function psql(args: string[], env: Record<string, string> = {}, program = "psql"): { hosts: string[]; error: string } {
  let out = "";
  try {
    execFileSync(program, [...args, ...(program === "psql" ? ["-XAtc", "select 1"] : [])], { env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    out = String((err as { stderr: Buffer }).stderr);
  }
  const hosts = [...out.matchAll(/could not translate host name "([^"]*)"/g)].map((m) => m[1] as string);
  return { hosts, error: hosts.length > 0 ? "" : out.replace(/^(psql|pg_dump): error: /, "").trim() };
}

function ourHosts(s: string): string[] | string {
  const p = parseConnString(s);
  if (p.kind === "error") return p.error;
  if (p.kind === "dbname") return "dbname";
  const t = connTargets(p.params);
  return t instanceof Error ? t.message : t.map((x) => x.host);
}

describe("libpq connection strings, held to the real psql", () => {
  it.each([
    ["percent-decoded host", "postgres://prod%2Ddb.invalid/orders", ["prod-db.invalid"]],
    ["postgresql:// is the same scheme", "postgresql://prod-db.invalid/orders", ["prod-db.invalid"]],
    ["every character may be encoded", "postgresql://%70rod-db.invalid/x", ["prod-db.invalid"]],
    ["user and password before the host", "postgresql://u:p%40ss@prod-db.invalid:5433/orders", ["prod-db.invalid"]],
    ["several hosts, ports per host", "postgresql://a.invalid,b.invalid:5433/db", ["a.invalid", "b.invalid"]],
    ["host in the query overrides the authority", "postgresql://h.invalid/db?host=q.invalid", ["q.invalid"]],
    ["host only in the query", "postgresql:///db?host=q.invalid", ["q.invalid"]],
    ["ssl=true is accepted", "postgres://h.invalid/x?ssl=true", ["h.invalid"]],
    ["conninfo", "host=prod-db.invalid dbname=orders", ["prod-db.invalid"]],
    ["conninfo: spaces around '='", "host = prod-db.invalid", ["prod-db.invalid"]],
    ["conninfo: quoted value with a space", "host = 'prod db.invalid'", ["prod db.invalid"]],
    ["conninfo: backslash escapes a space", "host=prod\\ db.invalid", ["prod db.invalid"]],
    ["conninfo: backslash escapes a quote", "host='it\\'s.invalid'", ["it's.invalid"]],
    ["conninfo: several hosts and ports", "host=a.invalid,b.invalid port=1,2", ["a.invalid", "b.invalid"]],
    ["conninfo: the last of a repeated keyword", "host=a.invalid host=b.invalid", ["b.invalid"]],
  ])("%s: %s", (_name, s, hosts) => {
    expect(psql([s]).hosts).toEqual(hosts);
    expect(ourHosts(s)).toEqual(hosts);
  });

  it.each([
    ["unknown query parameter", "postgresql://x.invalid/y?foo=1", 'invalid URI query parameter: "foo"'],
    ["malformed percent-encoding", "postgresql://x%zz/y", 'invalid percent-encoded token: "x%zz/y"'],
    ["unknown conninfo keyword", "hots=x.invalid", 'invalid connection option "hots"'],
    ["missing '='", "host=x.invalid dbname", 'missing "=" after "dbname" in connection info string'],
    ["unterminated quote", "host='unterminated", "unterminated quoted string in connection info string"],
  ])("libpq refuses %s, and so does the parser", (_name, s, error) => {
    expect(psql([s]).error).toContain(error.replace(/"[^"]*"$/, ""));
    expect(ourHosts(s)).toContain(error.replace(/"[^"]*"$/, ""));
  });

  it("an upper-case scheme is not a URI to libpq: the whole string is a database name", () => {
    expect(psql(["POSTGRES://h.invalid/x"]).error).toContain('database "POSTGRES://h.invalid/x" does not exist');
    expect(parseConnString("POSTGRES://h.invalid/x")).toEqual({ kind: "dbname" });
  });

  it("hostaddr decides where libpq connects; host then only names it (rendered for detectors)", () => {
    const s = "hostaddr=127.0.0.1 host=prod-db.invalid dbname=postgres user=postgres";
    const out = execFileSync("psql", [s, "-XAtc", "select inet_server_addr()"], { env: cleanEnv() }).toString().trim();
    expect(out).toBe("127.0.0.1");
    const p = parseConnString(s);
    if (p.kind !== "conninfo") throw new Error("not conninfo");
    const t = connTargets(p.params);
    expect(t).toEqual([{ host: "prod-db.invalid", hostaddr: "127.0.0.1", port: "", dbname: "postgres", user: "postgres" }]);
    expect(renderTarget((t as never)[0])).toBe("postgresql://postgres@prod-db.invalid/postgres?hostaddr=127.0.0.1");
  });

  it("a percent-encoded database name reaches the real database", () => {
    const out = execFileSync("psql", ["postgresql://postgres@127.0.0.1:5432/post%67res", "-XAtc", "select current_database()"], { env: cleanEnv() });
    expect(out.toString().trim()).toBe("postgres");
    expect(parseConnString("postgresql://postgres@127.0.0.1:5432/post%67res")).toEqual({
      kind: "uri",
      params: { user: "postgres", host: "127.0.0.1", port: "5432", dbname: "postgres" },
    });
  });

  it("IPv6 hosts in brackets; mismatched host and port lists are libpq errors", () => {
    expect(ourHosts("postgresql://[::1]:5432,[fe80::1]/db")).toEqual(["::1", "fe80::1"]);
    expect(ourHosts("host=a,b,c port=1,2")).toBe("could not match 2 port numbers to 3 hosts");
    expect(psql(["host=a.invalid,b.invalid,c.invalid port=1,2"]).error).toContain("could not match 2 port numbers to 3 hosts");
  });
});

/** The hosts guard reads from a client's arguments (every one of them is held against the policy). */
function argHosts(program: string, args: string[]): string[] {
  return pgClientArgs(program, args).flatMap((a) => {
    if (a.key === "host") return a.value.split(",");
    if (a.key !== "conn") return [];
    const h = ourHosts(a.value);
    return typeof h === "string" ? [] : h;
  });
}

describe("the client programs' own arguments, held to the real psql and pg_dump", () => {
  it.each([
    ["psql", ["-h", "a.invalid", "host=b.invalid"], {}, "b.invalid"],
    ["psql", ["-h", "a.invalid", "orders"], {}, "a.invalid"],
    ["psql", ["-ha.invalid"], {}, "a.invalid"],
    ["psql", ["-Xhd.invalid"], {}, "d.invalid"],
    ["psql", ["--hos=c.invalid"], {}, "c.invalid"],
    ["psql", ["--host", "c.invalid"], {}, "c.invalid"],
    ["psql", ["-d", "host=e.invalid", "-h", "f.invalid"], {}, "e.invalid"],
    ["psql", ["-d", "host=e.invalid", "host=g.invalid"], {}, "e.invalid"],
    ["psql", ["--dbname=postgresql://p.invalid/x"], {}, "p.invalid"],
    ["psql", ["host=b.invalid"], { PGHOST: "env.invalid" }, "b.invalid"],
    ["psql", ["-v", "host=x.invalid", "host=b.invalid"], {}, "b.invalid"],
    ["pg_dump", ["-h", "a.invalid", "host=b.invalid"], {}, "b.invalid"],
    ["pg_dump", ["-f", "/dev/null", "--dbname", "postgres://c.invalid/x"], {}, "c.invalid"],
  ] as const)("%s %j (env %j) reaches %s, and guard reads it", (program, args, env, host) => {
    expect(psql([...args], env, program).hosts[0]).toBe(host);
    expect(argHosts(program, [...args])).toContain(host);
  });

  it.each([
    ["pg_dump", ["--exclude-table", "lb_state", "guard_no_such_db_1"], "guard_no_such_db_1"],
    ["pg_dump", ["--lock-wait", "10s", "guard_no_such_db_2"], "guard_no_such_db_2"],
    ["pg_dump", ["--exclude-tab", "lb_state", "guard_no_such_db_6"], "(ambiguous option)"],
    ["pg_dump", ["-c", "guard_no_such_db_3"], "guard_no_such_db_3"],
    ["psql", ["--set", "x=1", "guard_no_such_db_4"], "guard_no_such_db_4"],
    ["psql", ["-v", "x=1", "guard_no_such_db_5", "someone"], "guard_no_such_db_5"],
  ] as const)("%s %j connects to database %s, and guard reads that one", (program, args, db) => {
    const real = psql(["-h", "127.0.0.1", "-U", "postgres", ...args, ...(program === "pg_dump" ? ["-f", "/dev/null"] : [])], {}, program);
    if (db === "(ambiguous option)") {
      // getopt_long refuses an ambiguous prefix, so the client connects nowhere; guard's reading does not matter
      expect(real.error).toContain("is ambiguous");
      return;
    }
    expect(real.error).toContain(`database "${db}" does not exist`);
    expect(pgClientArgs(program, [...args]).filter((a) => a.key === "dbname").map((a) => a.value)).toEqual([db]);
  });

  it("readings are all that the arguments name, overridden ones included (they must agree)", () => {
    expect(argHosts("psql", ["-h", "a.invalid", "host=b.invalid"])).toEqual(["a.invalid", "b.invalid"]);
  });

  it("non-option arguments of pg_restore and dropdb are not connections; their -d / --maintenance-db are", () => {
    expect(pgClientArgs("pg_restore", ["dump.custom"])).toEqual([]);
    expect(pgClientArgs("dropdb", ["orders"])).toEqual([]);
    expect(pgClientArgs("dropdb", ["--maintenance-db=host=p.invalid", "orders"])).toEqual([{ key: "conn", value: "host=p.invalid", at: "--maintenance-db" }]);
    expect(pgClientArgs("pg_restore", ["-d", "postgres://p.invalid/x", "dump"])).toEqual([{ key: "conn", value: "postgres://p.invalid/x", at: "-d" }]);
  });

  it("after `--` every argument is an operand", () => {
    expect(pgClientArgs("psql", ["--", "-h"])).toEqual([{ key: "dbname", value: "-h", at: "argument 2" }]);
  });
});

describe("pg_service.conf, held to the real psql", () => {
  const dir = mkdtempSync(join(tmpdir(), "guard-pgservice-"));
  const file = join(dir, "pg_service.conf");
  const text = ["# comment", "[staging]", "host=stg.invalid", "", "[prod]", "  host=prod-db.invalid  ", "dbname=orders", "host=second.invalid", "[other]", "host=o.invalid"].join("\n");
  writeFileSync(file, text);

  it.each([
    ["prod", "prod-db.invalid"],
    ["staging", "stg.invalid"],
  ])("service %s reaches %s", (name, host) => {
    expect(psql([], { PGSERVICE: name, PGSERVICEFILE: file }).hosts).toEqual([host]);
    expect((pgServiceSection(text, name) as Record<string, string>).host).toBe(host);
  });

  it("a service file's host beats PGHOST; an argument's host beats the service file", () => {
    expect(psql([], { PGSERVICE: "prod", PGSERVICEFILE: file, PGHOST: "env.invalid" }).hosts).toEqual(["prod-db.invalid"]);
    expect(psql(["host=arg.invalid"], { PGSERVICE: "prod", PGSERVICEFILE: file }).hosts).toEqual(["arg.invalid"]);
  });

  it("an unknown service is an error, as in libpq", () => {
    expect(psql([], { PGSERVICE: "nope", PGSERVICEFILE: file }).error).toContain('definition of service "nope" not found');
    expect(pgServiceSection(text, "nope")).toBeUndefined();
  });
});
