/** Types for gen-sha256-wasm.mjs (imported by test/core/sha256.test.ts). */
export function assembleSha256(watPath: string): Promise<Buffer>;
