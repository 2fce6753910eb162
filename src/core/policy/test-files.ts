/** `*.test.yaml` / `*.test.yml` in the policy directory are policy tests, not policy (`guard policy test`). */
const TEST_FILE_RE = /\.test\.ya?ml$/i;

export const isPolicyTestFile = (path: string): boolean => TEST_FILE_RE.test(baseName(path));

export function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i === -1 ? path : path.slice(i + 1);
}
