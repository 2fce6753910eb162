// The bench's verdicts and how they are printed: an aligned table for the terminal, and the same rows
// as Markdown for the README, with the machine they came from.
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";

/**
 * A row. `value` is what was measured; `ok`/`stretchOk` decide the verdict (null = reference only).
 * An `error` row is a scenario that could not be measured: it fails the bench too.
 */
export function row(what, value, target = "", stretch = "", ok = null, stretchOk = null, error = null) {
  let status = "";
  if (error) status = "ERROR";
  else if (ok === false) status = "FAIL";
  else if (ok === true) status = stretchOk ? "PASS (stretch)" : "PASS";
  return { what, value: error ? error.split("\n")[0] : value, target, stretch, status, error };
}

export const failed = (rows) => rows.filter((r) => r.status === "FAIL" || r.status === "ERROR");

export function machine() {
  let cpu = "unknown CPU";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return {
    cpus: availableParallelism(),
    cpu,
    node: process.version,
    kernel: release(),
    memGb: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    load: loadavg().map((x) => x.toFixed(2)).join(" "),
  };
}

export function renderText(rows) {
  const cols = ["what", "value", "target", "stretch", "status"];
  const head = { what: "what", value: "measured", target: "target", stretch: "stretch", status: "result" };
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(head[c].length, ...rows.map((r) => r[c].length))]));
  const line = (r) => cols.map((c) => r[c].padEnd(width[c])).join("  ").trimEnd();
  return [line(head), cols.map((c) => "-".repeat(width[c])).join("  "), ...rows.map(line)].join("\n");
}

export function renderMarkdown(rows, m, settings) {
  const esc = (s) => s.replace(/\|/g, "\\|");
  return [
    `Measured ${m.date} on ${m.cpus} × ${m.cpu}, ${m.memGb} GB, Linux ${m.kernel}, Node ${m.node}; load average at the end ${m.load}.`,
    "",
    settings,
    "",
    "| what | measured | target | stretch | result |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${esc(r.what)} | ${esc(r.value)} | ${esc(r.target)} | ${esc(r.stretch)} | ${r.status} |`),
  ].join("\n");
}
