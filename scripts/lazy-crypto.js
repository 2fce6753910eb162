// Stands in for node:crypto in dist/guard.cjs (scripts/build.mjs): node:crypto is loaded on the first
// call, not at start-up. An allowed `guard run` hashes in WebAssembly and draws random bytes from
// /dev/urandom (src/core/sha256.ts, src/adapters/random.ts), so it never pays the ~2 ms that loading
// node:crypto costs; every other path loads it the moment it calls one of these. A name guard starts
// to import from node:crypto must be added here: the build fails on an import this file lacks.
/* eslint-disable no-undef, @typescript-eslint/no-require-imports -- CommonJS globals of the bundle */
let loaded;
const crypto = () => (loaded ??= require("node:crypto"));

export const createHash = (...args) => crypto().createHash(...args);
export const createPublicKey = (...args) => crypto().createPublicKey(...args);
export const hash = (...args) => crypto().hash(...args);
export const randomBytes = (...args) => crypto().randomBytes(...args);
export const verify = (...args) => crypto().verify(...args);
export const constants = new Proxy({}, { get: (_, name) => crypto().constants[name] });
