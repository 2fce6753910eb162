import { digestOf, sha256Hex } from "../core/canonical.js";
import type { KubeconfigFile } from "../core/types.js";
import { readClientFile } from "./client-file.js";
import { currentBuild, readEntry, writeEntry } from "./policy-cache.js";

/** kubeconfigs with many clusters are large, but not this large; a bigger file is a mistake or an attack. */
const MAX_BYTES = 16 * 1024 * 1024;

/**
 * Read each kubeconfig in load order and extract its top-level `current-context`. Missing files are
 * skipped, as kubectl skips them; any other problem (unreadable, not YAML, a non-string context) is
 * reported in `error`, which makes detection fail closed. Called only when a detector asks for kubeconfigs
 * (core/detectors/registry.ts detectionFiles), so `yaml` is imported lazily and never loads otherwise.
 */
export async function readKubeconfigs(paths: readonly string[], cacheDir: string | null = null): Promise<KubeconfigFile[]> {
  const out: KubeconfigFile[] = [];
  for (const path of paths) {
    const read = readClientFile(path, MAX_BYTES);
    if ("missing" in read) continue;
    if ("error" in read) {
      out.push({ path, error: read.error });
      continue;
    }
    const { bytes } = read;
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      out.push({ path, error: "not valid UTF-8" });
      continue;
    }
    const key = cacheDir === null ? null : digestOf({ format: CACHE_FORMAT, build: currentBuild(), sha256: sha256Hex(bytes) });
    const cached = key === null ? null : cachedContext(readEntry(cacheDir!, key, CACHE_FORMAT));
    if (cached !== null) {
      out.push({ path, ...cached });
      continue;
    }
    const parsed = await parseCurrentContext(path, text);
    out.push(parsed);
    if (key !== null) writeEntry(cacheDir!, key, CACHE_FORMAT, { currentContext: parsed.currentContext ?? null, error: parsed.error ?? null });
  }
  return out;
}

/**
 * What the YAML parser made of a kubeconfig's exact bytes is cached beside the validated policies, with
 * the same rules (policy-cache.ts): the user's own private directory, never when the system configuration
 * pins the policy (the caller then passes no directory: whoever can write the cache could choose the
 * environment), keyed by the SHA-256 of the bytes and this build of guard. A hit spares loading the YAML
 * parser and parsing, ~18 ms of a `guard run -- kubectl …` on Node 20; the file itself is always read.
 */
const CACHE_FORMAT = "access-guard-kubeconfig-cache/1";

/** A cached value as KubeconfigFile's fields, or null for anything this build did not write. */
function cachedContext(v: unknown): Omit<KubeconfigFile, "path"> | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const { currentContext, error } = v as { currentContext?: unknown; error?: unknown };
  if (Object.keys(v).length !== 2 || (currentContext !== null && typeof currentContext !== "string") || (error !== null && typeof error !== "string")) return null;
  if (currentContext !== null && error !== null) return null;
  return currentContext !== null ? { currentContext } : error !== null ? { error } : {};
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
