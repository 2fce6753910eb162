/**
 * Random bytes for guard's own identifiers on the start-up path (run ids, lock tokens), read from the
 * kernel's /dev/urandom — the source node:crypto's generator is seeded from — so that an allowed
 * `guard run` does not load node:crypto (core/sha256.ts says why). Where /dev/urandom cannot be read,
 * or is not the kernel's character device (a chroot), node:crypto answers. Request ids and nonces that
 * approvals sign use node:crypto directly: that path loads it anyway.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { randomBytes as cryptoRandomBytes } from "node:crypto";

export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  let fd = -1;
  try {
    fd = openSync("/dev/urandom", constants.O_RDONLY | constants.O_NOFOLLOW);
    if (!fstatSync(fd).isCharacterDevice()) throw new Error("/dev/urandom is not a character device");
    for (let got = 0; got < n; ) {
      const r = readSync(fd, out, got, n - got, null);
      if (r <= 0) throw new Error("/dev/urandom gave no bytes");
      got += r;
    }
    return out;
  } catch {
    return cryptoRandomBytes(n);
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}
