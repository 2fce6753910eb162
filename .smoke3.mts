import { parse } from "./test/policy/helpers.ts";
import { VALID } from "./test/policy/helpers.ts";
const r = parse({
      "policies/z.yaml": 'version: 1\nrules:\n  - { name: z1, match: {}, deny: "z" }\n',
      "policies/a.yaml": VALID,
      "policies/m.yaml": "version: 1\nrules:\n  - { name: m1, match: { commands: [x] }, allow: true }\n  - { name: m2, match: { commands: [y] }, allow: true }\n",
    });
console.log(r.diagnostics);
