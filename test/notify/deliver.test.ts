/**
 * Delivery against a real HTTP server on 127.0.0.1: what is sent, in parallel, bounded by each
 * webhook's timeout, one quick retry when the connection dropped, and failures returned (never thrown)
 * without the URL or the server's answer in them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonPayload } from "../../src/core/notify.js";
import { deliverNotifications, deliver } from "../../src/adapters/notify.js";
import { facts, webhook } from "./fixtures.js";
import { closedPort, startHookServer, type HookServer } from "./hook-server.js";

let server: HookServer;
beforeAll(async () => {
  server = await startHookServer();
});
afterAll(async () => server.close());

let n = 0;
/** A fresh path per test, so that recorded requests never mix. */
const path = (mode: string): string => `/${mode}/t${++n}`;

describe("what is sent", () => {
  it("a JSON POST of guard's payload, with content-type and the event in a header", async () => {
    const p = path("ok");
    const f = facts();
    const results = await deliverNotifications({ webhooks: [webhook({ url: `${server.base}${p}` })] }, f);
    expect(results).toEqual([{ webhook: "ops", event: "request.created", ok: true }]);
    const [got] = server.to(p);
    expect(got?.method).toBe("POST");
    expect(got?.headers["content-type"]).toBe("application/json");
    expect(got?.headers["x-guard-event"]).toBe("request.created");
    expect(got?.headers["user-agent"]).toMatch(/^access-guard\//);
    expect(got?.json).toEqual(JSON.parse(JSON.stringify(jsonPayload(f))));
  });

  it("the Slack format to a Slack webhook", async () => {
    const p = path("ok");
    await deliverNotifications({ webhooks: [webhook({ url: `${server.base}${p}`, format: "slack" })] }, facts());
    expect(server.to(p)[0]?.json).toMatchObject({ text: expect.stringContaining("guard approve r-"), blocks: expect.any(Array) });
  });

  it("credentials in the URL go in an Authorization header (fetch refuses them in the URL); the query stays", async () => {
    const p = path("ok");
    const url = new URL(`${server.base}${p}?token=abc`);
    url.username = "bot";
    url.password = "p@ss word";
    expect((await deliverNotifications({ webhooks: [webhook({ url: url.href })] }, facts()))[0]?.ok).toBe(true);
    const [got] = server.to(p);
    expect(got?.path).toBe(`${p}?token=abc`);
    expect(got?.headers.authorization).toBe(`Basic ${Buffer.from("bot:p@ss word").toString("base64")}`);
  });

  it("only the webhooks that want the event and the environment are called", async () => {
    const [a, b, c] = [path("ok"), path("ok"), path("ok")];
    const results = await deliverNotifications(
      {
        webhooks: [
          webhook({ name: "a", url: `${server.base}${a}` }),
          webhook({ name: "b", url: `${server.base}${b}`, environments: ["staging"] }),
          webhook({ name: "c", url: `${server.base}${c}`, events: ["run.finished"] }),
        ],
      },
      facts(),
    );
    expect(results.map((r) => r.webhook)).toEqual(["a"]);
    expect([a, b, c].map((x) => server.to(x).length)).toEqual([1, 0, 0]);
  });
});

describe("failures are results, never exceptions", () => {
  it("HTTP 500, without the server's answer in the error", async () => {
    const results = await deliverNotifications({ webhooks: [webhook({ url: `${server.base}${path("fail")}` })] }, facts());
    expect(results).toEqual([{ webhook: "ops", event: "request.created", ok: false, error: "HTTP 500" }]);
  });

  it("a redirect is not followed", async () => {
    expect(await deliver(webhook({ url: `${server.base}${path("redirect")}` }), "run.started", "{}")).toBe("HTTP 302 (a redirect, which guard does not follow)");
  });

  it("a webhook that never answers times out after its timeout", async () => {
    const p = path("hang");
    const started = Date.now();
    expect(await deliver(webhook({ url: `${server.base}${p}`, timeoutSeconds: 1 }), "run.started", "{}")).toBe("timed out after 1s");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(server.to(p)).toHaveLength(1);
  });

  it("a refused connection is retried once, then reported by its code, never with the URL", async () => {
    const port = await closedPort();
    const results = await deliverNotifications({ webhooks: [webhook({ url: `http://127.0.0.1:${port}/secret-path?token=SECRET` })] }, facts());
    expect(results).toEqual([{ webhook: "ops", event: "request.created", ok: false, error: "connection failed (ECONNREFUSED)" }]);
  });

  it("a port fetch refuses is named as such", async () => {
    expect(await deliver(webhook({ url: "http://127.0.0.1:9/x" }), "run.started", "{}")).toMatch(/^fetch refuses to connect to this port/);
  });

  it("a dropped connection is retried once, quickly, and then succeeds", async () => {
    const p = path("flaky");
    expect(await deliver(webhook({ url: `${server.base}${p}` }), "run.finished", "{}")).toBeNull();
    expect(server.to(p)).toHaveLength(2);
  });

  it("a URL the loader would have refused still never throws", async () => {
    const results = await deliverNotifications({ webhooks: [webhook({ url: "not a url" })] }, facts());
    expect(results[0]).toMatchObject({ ok: false, error: expect.stringMatching(/^internal error/) });
  });
});

describe("several webhooks", () => {
  it("are called in parallel: a hanging one does not hold back the others", async () => {
    const [h1, h2, ok] = [path("hang"), path("hang"), path("ok")];
    const results = await deliverNotifications(
      {
        webhooks: [
          webhook({ name: "h1", url: `${server.base}${h1}`, timeoutSeconds: 1 }),
          webhook({ name: "h2", url: `${server.base}${h2}`, timeoutSeconds: 1 }),
          webhook({ name: "ok", url: `${server.base}${ok}` }),
        ],
      },
      facts(),
    );
    expect(results).toEqual([
      { webhook: "h1", event: "request.created", ok: false, error: "timed out after 1s" },
      { webhook: "h2", event: "request.created", ok: false, error: "timed out after 1s" },
      { webhook: "ok", event: "request.created", ok: true },
    ]);
    // Sequential delivery would have sent the second only after the first had timed out.
    const [a, b] = [server.to(h1)[0]!.at, server.to(h2)[0]!.at];
    expect(Math.abs(a - b)).toBeLessThan(900);
  });
});
