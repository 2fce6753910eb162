/**
 * A TCP proxy between guard and the real PostgreSQL server, so a test can "stop" the database for guard
 * (close the proxy) without touching the shared server, and cut a connection at one exact statement.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface PgProxy {
  port: number;
  /** Stop accepting and drop every open connection: to guard the server is gone. */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
  /**
   * The next time a client sends a chunk containing `marker`, forward it, wait for the server's answer
   * (so the statement has run and committed), then cut that client's connection without passing the
   * answer on. Resolves when that has happened.
   */
  cutAfter(marker: string): Promise<void>;
}

export async function startPgProxy(target = { host: "127.0.0.1", port: 5432 }): Promise<PgProxy> {
  const sockets = new Set<Socket>();
  let cut: { marker: string; done: () => void } | null = null;
  let server: Server | null = null;
  let port = 0;

  const onConnection = (client: Socket): void => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    let cutting = false;
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
    client.on("data", (chunk: Buffer) => {
      if (cut !== null && chunk.includes(cut.marker)) {
        const done = cut.done;
        cut = null;
        cutting = true;
        upstream.once("data", () => {
          close();
          done();
        });
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!cutting) client.write(chunk);
    });
  };

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer(onConnection);
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        const addr = s.address();
        if (addr && typeof addr === "object") port = addr.port;
        resolve();
      });
    });

  await listen();
  return {
    get port() {
      return port;
    },
    async stop() {
      const s = server;
      server = null;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    start: listen,
    cutAfter(marker: string) {
      return new Promise<void>((resolve) => {
        cut = { marker, done: resolve };
      });
    },
  };
}
