import type { SourceLocation } from "../types.js";

/** A name used somewhere, with where, so cross-file checks can point at it. */
export interface Ref {
  name: string;
  at: SourceLocation;
}
