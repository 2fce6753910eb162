/**
 * How the GitHub Actions runner reads a step's output, after actions/runner (ActionCommand.TryParseV2,
 * ActionCommand.TryParse and ActionCommandManager.TryProcessCommand): a line is a command when it
 * starts with `::` after leading white space, or when it contains the legacy `##[` anywhere;
 * `::stop-commands::TOKEN` ignores every command until `::TOKEN::`. The tests feed guard's real
 * output through it to see what the runner would do with it.
 */

const REGISTERED = [
  "add-mask", "add-matcher", "add-path", "debug", "echo", "endgroup", "error", "group", "notice",
  "remove-matcher", "save-state", "set-env", "set-output", "warning", "stop-commands",
];

export interface RunnerCommand {
  name: string;
  props: Record<string, string>;
  data: string;
  line: string;
}

const unescapeData = (s: string): string => s.replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%25/g, "%");
const unescapeProperty = (s: string): string =>
  s.replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%3A/g, ":").replace(/%2C/g, ",").replace(/%25/g, "%");
const unescapeLegacy = (s: string): string =>
  s.replace(/%3B/g, ";").replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%5D/g, "]").replace(/%25/g, "%");

function parseV2(line: string, registered: Set<string>): RunnerCommand | null {
  const message = line.trimStart();
  if (!message.startsWith("::")) return null;
  const end = message.indexOf("::", 2);
  if (end < 0) return null;
  const info = message.slice(2, end);
  const space = info.indexOf(" ");
  const name = space < 0 ? info : info.slice(0, space);
  if (!registered.has(name.toLowerCase())) return null;
  const props: Record<string, string> = {};
  if (space > 0) {
    for (const p of info.slice(space + 1).trim().split(",").filter(Boolean)) {
      const eq = p.indexOf("=");
      if (eq > 0 && eq < p.length - 1) props[p.slice(0, eq)] = unescapeProperty(p.slice(eq + 1));
    }
  }
  return { name, props, data: unescapeData(message.slice(end + 2)), line };
}

function parseLegacy(line: string, registered: Set<string>): RunnerCommand | null {
  const start = line.indexOf("##[");
  if (start < 0) return null;
  const rb = line.indexOf("]", start);
  if (rb < 0) return null;
  const info = line.slice(start + 3, rb);
  const space = info.indexOf(" ");
  const name = space < 0 ? info : info.slice(0, space);
  if (!registered.has(name.toLowerCase())) return null;
  const props: Record<string, string> = {};
  if (space > 0) {
    for (const p of info.slice(space + 1).split(";").filter(Boolean)) {
      const eq = p.indexOf("=");
      if (eq > 0 && eq < p.length - 1) props[p.slice(0, eq)] = unescapeLegacy(p.slice(eq + 1));
    }
  }
  return { name, props, data: unescapeLegacy(line.slice(rb + 1)), line };
}

/** The commands the runner would act on in `output` (one stream), including stop and resume. */
export function runnerCommands(output: string): RunnerCommand[] {
  const registered = new Set(REGISTERED);
  let stopToken: string | null = null;
  const acted: RunnerCommand[] = [];
  for (const line of output.split(/\r?\n/)) {
    const cmd = parseV2(line, registered) ?? parseLegacy(line, registered);
    if (!cmd) continue;
    if (stopToken !== null) {
      if (cmd.name.toLowerCase() === stopToken.toLowerCase()) {
        registered.delete(stopToken.toLowerCase());
        stopToken = null;
        acted.push({ ...cmd, name: "(resume)" });
      }
      continue;
    }
    if (cmd.name === "stop-commands") {
      stopToken = cmd.data;
      registered.add(stopToken.toLowerCase());
    }
    acted.push(cmd);
  }
  return acted;
}
