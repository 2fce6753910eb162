/** The options every command takes (src/cli.ts declares them), and those of `guard run`. */
export interface CommonOptions {
  policy?: string;
  store?: string;
  key?: string;
  json?: boolean;
}

export interface RunOptions extends CommonOptions {
  env?: string;
  reason?: string;
  confirm?: string;
  wait?: string;
  request?: string;
  breakGlass?: boolean;
}
