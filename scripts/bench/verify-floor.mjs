// A floor for `guard audit verify`: the least any verifier of the chain must do — read the log, parse
// each line as JSON and hash it once — in a bare Node script, so that the absolute verify time can be
// read against what this machine manages at that moment. Prints the line count.
//
//   node verify-floor.mjs <events.jsonl>
import { hash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

const fd = openSync(process.argv[2], "r");
const buf = Buffer.allocUnsafe(1 << 20);
const utf8 = new StringDecoder("utf8"); // a character split across two reads stays whole
let carry = "";
let lines = 0;
let xor = 0;
for (;;) {
  const n = readSync(fd, buf, 0, buf.length, null);
  if (n === 0) break;
  const parts = (carry + utf8.write(buf.subarray(0, n))).split("\n");
  carry = parts.pop();
  for (const line of parts) {
    const e = JSON.parse(line);
    xor ^= e.seq ^ hash("sha256", line, "hex").charCodeAt(0); // keep the work observable
    lines++;
  }
}
closeSync(fd);
process.stdout.write(`${lines} ${xor}\n`);
