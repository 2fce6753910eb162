// Injected into dist/vendor/pg.cjs only (scripts/build.mjs). pg asks whether it runs on Cloudflare
// Workers by reading `navigator.userAgent`, and where there is no `navigator` (Node 20 has none) by
// constructing a fetch Response, which makes Node load its whole fetch implementation (undici): 15 ms and
// more on every start with a PostgreSQL store. This `navigator`, seen by pg's code alone (the global is
// untouched), answers the question for Node.
export const navigator = { userAgent: `Node.js/${process.version}` };
