/**
 * Random bytes for guard's identifiers (run ids, lock tokens, request ids and nonces): node:crypto's
 * generator, the one source for all of them.
 */
export { randomBytes } from "node:crypto";
