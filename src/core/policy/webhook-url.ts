/**
 * Webhook URLs in a policy. A webhook URL is usually a bearer secret (Slack puts it in the path, other
 * services in the query or in userinfo), so no message ever prints one whole: only the scheme, the host
 * and the port survive redaction.
 */

/** Plain http is accepted only to this machine: a local relay, or a test server. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);
const MAX_URL_LENGTH = 2048;
/** Printable ASCII without the space: the WHATWG parser silently drops tabs and newlines, so refuse them. */
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/** Why `raw` cannot be a webhook URL, or null when it can. The message never contains the URL's secret parts. */
export function webhookUrlProblem(raw: string): string | null {
  if (raw.length > MAX_URL_LENGTH) return `is longer than ${MAX_URL_LENGTH} characters`;
  if (!PRINTABLE_ASCII.test(raw)) return "contains spaces, control or non-ASCII characters (write international host names in punycode and percent-encode the rest)";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not an absolute URL";
  }
  if (url.protocol === "https:") return url.hostname === "" ? "has no host" : null;
  if (url.protocol === "http:") {
    return LOOPBACK_HOSTS.has(url.hostname) ? null : `${redactUrl(raw)} uses plain http, which only a loopback host (127.0.0.1, localhost, [::1]) may`;
  }
  return `uses the scheme ${JSON.stringify(url.protocol.slice(0, 20))}; only https is sent`;
}

/**
 * `https://hooks.slack.com/…`: the scheme, host and port of a URL, never its userinfo, path, query or
 * fragment. Something that does not parse is not shown at all.
 */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "(unparseable URL)";
  }
  const secret = url.username !== "" || url.password !== "" ? "…@" : "";
  const rest = url.pathname !== "/" || url.search !== "" || url.hash !== "" ? "/…" : "/";
  return `${url.protocol}//${secret}${url.host}${rest}`;
}
