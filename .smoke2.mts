import { policyJsonSchema } from "./src/core/policy/schema.ts";
const s = JSON.stringify(policyJsonSchema(), null, 2);
console.log(s.length); console.log(s.slice(0, 1500));
