import { promises as fsp } from "node:fs";
import type { KubeconfigFile } from "../core/types.js";

/** kubeconfigs with many clusters are large, but not this large; a bigger file is a mistake or an attack. */
const MAX_BYTES = 16 * 1024 * 1024;

/**
 * Read each kubeconfig in load order and extract its top-level `current-context`. Missing files are
 * skipped, as kubectl skips them; any other problem (unreadable, not YAML, a non-string context) is
 * reported in `error`, which makes detection fail closed. Called only when a detector asks for kubeconfigs
 * (core/detectors/registry.ts detectionFiles), so `yaml` is imported lazily and never loads otherwise.
 */
export async function readKubeconfigs(paths: readonly string[]): Promise<KubeconfigFile[]> {
  const out: KubeconfigFile[] = [];
  for (const path of paths) {
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue;
      out.push({ path, error: `cannot read (${code ?? (err as Error).message})` });
      continue;
    }
    if (bytes.length > MAX_BYTES) {
      out.push({ path, error: `larger than ${MAX_BYTES} bytes` });
      continue;
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      out.push({ path, error: "not valid UTF-8" });
      continue;
    }
    out.push(await parseCurrentContext(path, text));
  }
  return out;
}

async function parseCurrentContext(path: string, text: string): Promise<KubeconfigFile> {
  const { parseAllDocuments } = await import("yaml");
  // YAML 1.1 as kubectl's go-yaml reads it: `current-context: no` is a boolean there, so it is an error
  // here too instead of silently becoming the context named "no".
  const docs = parseAllDocuments(text, { version: "1.1", uniqueKeys: true });
  if (!Array.isArray(docs)) return { path, error: "not a YAML document" };
  if (docs.length === 0) return { path };
  if (docs.length > 1) return { path, error: "more than one YAML document" };
  const doc = docs[0];
  if (doc === undefined) return { path };
  const first = doc.errors[0];
  if (first) return { path, error: `invalid YAML: ${first.message.split("\n")[0]}` };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { path, error: `invalid YAML: ${(err as Error).message}` };
  }
  if (data === null || data === undefined) return { path };
  if (typeof data !== "object" || Array.isArray(data)) return { path, error: "top level is not a mapping" };
  const ctx = (data as Record<string, unknown>)["current-context"];
  if (ctx === undefined || ctx === null) return { path };
  if (typeof ctx !== "string") return { path, error: `current-context is a ${typeof ctx}, not a string` };
  return ctx === "" ? { path } : { path, currentContext: ctx };
}
