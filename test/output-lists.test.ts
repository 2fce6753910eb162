/**
 * printJsonLists (adapters/output.ts): `guard requests --json` written one request at a time, so that a
 * listing larger than a JavaScript string can hold is still written (issue 18: 100,000 requests). It must
 * be exactly the text printJson writes for the same value, escaping included.
 */
import { describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { jsonText, printJsonLists } from "../src/adapters/output.js";

async function written(value: Record<string, readonly unknown[]>, highWaterMark = 16): Promise<string> {
  // A small buffer and a slow reader: writes return false and the writer waits for "drain".
  const out = new PassThrough({ highWaterMark });
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  out.pause();
  const resume = setInterval(() => out.resume(), 1);
  try {
    await printJsonLists(value, out);
  } finally {
    clearInterval(resume);
  }
  out.resume();
  out.end();
  await new Promise((r) => out.on("end", r));
  return Buffer.concat(chunks).toString("utf8");
}

describe("printJsonLists: printJson's text, one list item at a time", () => {
  it.each([
    ["empty lists", { requests: [], damaged: [] }],
    ["one item", { requests: [{ id: "r-aaaaaaaaaaaaaaaaaaaa", argv: ["a", "b"] }], damaged: [] }],
    ["nested and hostile text", { requests: [{ a: { b: [1, { c: "x\u001b[31m##[error]\u202e" }] } }, null, "s", 3], damaged: [{ id: null, where: "w\n::set-output", problem: "p" }] }],
    ["no members", {}],
  ])("%s", async (_name, value) => {
    expect(await written(value as Record<string, unknown[]>)).toBe(`${jsonText(value, 2)}\n`);
  });

  it("agrees with printJson on generated values, with a stream that keeps saying 'wait'", async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ maxLength: 6 }), fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 6 }), { maxKeys: 3 }), async (value) => {
        expect(await written(value)).toBe(`${jsonText(value, 2)}\n`);
      }),
      { numRuns: 200 },
    );
  });

  it("writes a listing in pieces, never as one string", async () => {
    const big = { requests: Array.from({ length: 3000 }, (_, i) => ({ id: i, text: "x".repeat(100) })), damaged: [] };
    const out = new PassThrough();
    let writes = 0;
    const write = out.write.bind(out);
    out.write = ((chunk: unknown, ...rest: unknown[]) => {
      writes++;
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof out.write;
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    await printJsonLists(big, out);
    expect(writes).toBeGreaterThan(3);
    expect(Buffer.concat(chunks).toString("utf8")).toBe(`${jsonText(big, 2)}\n`);
  });

  it("a reader that goes away mid-listing ends the writing; it never waits for a drain that cannot come", async () => {
    const big = { requests: Array.from({ length: 5000 }, (_, i) => ({ id: i, text: "y".repeat(200) })), damaged: [] };
    const out = new PassThrough({ highWaterMark: 1024 });
    out.on("error", () => undefined);
    let got = 0;
    out.on("data", (c: Buffer) => {
      got += c.length;
      if (got > 100_000) out.destroy(); // like `| head -c 100000`
    });
    await printJsonLists(big, out); // resolves: the test would time out if it waited for "drain"
    expect(out.destroyed).toBe(true);
    expect(got).toBeLessThan(`${jsonText(big, 2)}\n`.length);
  });
});
