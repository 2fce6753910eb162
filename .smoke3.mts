import { parsePolicyFiles } from "./src/core/policy/parse.ts";
const t = 'version: 1\nenvironments:\n  production: { description: "live }\n';
console.log(parsePolicyFiles([{path:"a.yaml", bytes: new TextEncoder().encode(t)}], "/").diagnostics);
