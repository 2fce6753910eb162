// Injected by scripts/build.mjs into each CommonJS bundle: `import.meta.url`, in code written as ES
// modules, becomes `__guardMeta.url`, the URL of the bundle file the code ended up in. A getter, so that
// start-up does not pay for a URL nobody asks for.
/* eslint-disable no-undef, @typescript-eslint/no-require-imports -- CommonJS globals of the bundle */
export const __guardMeta = {
  get url() {
    return require("node:url").pathToFileURL(__filename).href;
  },
};
