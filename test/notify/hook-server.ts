/**
 * A real HTTP server on 127.0.0.1 (random port) standing in for webhook receivers. The first path
 * segment chooses how it answers: /ok/… 204, /fail/… 500, /redirect/… 302, /hang/… never (until the test
 * closes the server), /flaky/… drops the connection the first time and answers 204 after. Every request
 * is recorded, including those it never answers.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
  at: number;
}

export interface HookServer {
  /** http://127.0.0.1:PORT */
  base: string;
  received: Received[];
  /** Requests to paths starting with `prefix`. */
  to(prefix: string): Received[];
  /** Resolve once `count` requests to `prefix` have arrived (rejects after `timeoutMs`). */
  waitFor(prefix: string, count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startHookServer(): Promise<HookServer> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  let flakyDropped = false;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const path = req.url ?? "/";
      received.push({ method: req.method ?? "", path, headers: req.headers, body, json, at: Date.now() });
      const mode = path.split("/")[1];
      if (mode === "hang") {
        hanging.push(res);
        return;
      }
      if (mode === "flaky" && !flakyDropped) {
        flakyDropped = true;
        req.socket.destroy();
        return;
      }
      if (mode === "fail") res.writeHead(500, { "content-type": "text/plain" }).end("\x1b[2Jsecret internal error text");
      else if (mode === "redirect") res.writeHead(302, { location: "http://127.0.0.1:9/elsewhere" }).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const to = (prefix: string): Received[] => received.filter((r) => r.path.startsWith(prefix));
  return {
    base: `http://127.0.0.1:${port}`,
    received,
    to,
    async waitFor(prefix, count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (to(prefix).length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} requests to ${prefix}, got ${to(prefix).length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return to(prefix);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on: bind one, then close it. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
