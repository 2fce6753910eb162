/**
 * The options and subcommands a `guard … --help` text lists (commander's "Options:" and "Commands:"
 * sections): what shell completion must offer. One reading for the in-process completion table
 * (test/commands/completion.test.ts) and the built CLI's (test/ci/completion.test.ts).
 */
export function helpListing(stdout: string): { options: string[]; commands: string[] } {
  const section = (name: string): string[] => {
    const start = stdout.indexOf(`\n${name}:\n`);
    if (start < 0) return [];
    const body = stdout.slice(start + name.length + 3).split("\n\n")[0]!;
    return body.split("\n").filter((l) => /^ {2}\S/.test(l));
  };
  return {
    options: section("Options").flatMap((l) => l.trim().split(/\s{2,}/)[0]!.split(/,\s*/).map((f) => f.split(/[ <[]/)[0]!)),
    commands: section("Commands").map((l) => l.trim().split(/\s/)[0]!),
  };
}
