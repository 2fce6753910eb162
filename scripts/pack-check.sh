#!/usr/bin/env bash
# The release check: from a clean clone of this checkout's HEAD, `npm ci && npm pack`, then install the
# tarball globally into a temporary prefix and run the installed `guard` as a user would (--version,
# init in a new directory, policy lint and test). Prints the installed footprint; fails over 6 MB.
#   bash scripts/pack-check.sh        (a few minutes: npm ci of the devDependencies)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/guard-pack.XXXXXX")"
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/clone"
cd "$work/clone"
npm ci --no-audit --no-fund >/dev/null
tarball="$(npm pack --silent | tail -n 1)"
listing="$(tar -tzf "$tarball")"
echo "pack-check: $tarball: $(wc -l <<<"$listing") files"
grep -qx 'package/dist/guard.cjs' <<<"$listing" || { echo "pack-check: the tarball has no dist/guard.cjs" >&2; exit 1; }
if grep -q '\.map$' <<<"$listing"; then echo "pack-check: the tarball ships source maps" >&2; exit 1; fi

npm install --global --prefix "$work/prefix" --no-audit --no-fund "$work/clone/$tarball" >/dev/null
guard="$work/prefix/bin/guard"
"$guard" --version
mkdir -p "$work/project/home"
cd "$work/project"
export HOME="$work/project/home" XDG_STATE_HOME="$work/project/home/state" USER=pack-check
ssh-keygen -q -t ed25519 -N "" -C pack-check -f "$HOME/.ssh_key" && mkdir -p "$HOME/.ssh" && mv "$HOME/.ssh_key" "$HOME/.ssh/id_ed25519" && mv "$HOME/.ssh_key.pub" "$HOME/.ssh/id_ed25519.pub"
"$guard" init >/dev/null
"$guard" policy lint >/dev/null
"$guard" policy test >/dev/null
grep -q 'unpkg.com/guard-approvals/schema/policy.schema.json' policies/*.yaml

pkg="$work/prefix/lib/node_modules/guard-approvals"
test -f "$pkg/schema/policy.schema.json" && test -f "$pkg/LICENSE"
kb="$(du -sk "$pkg" | cut -f1)"
echo "pack-check: installed footprint $(du -sh "$pkg" | cut -f1) (${kb} KB, dependencies included: $(ls "$pkg/node_modules" 2>/dev/null | wc -l) installed)"
if [ "$kb" -gt 6144 ]; then echo "pack-check: over 6 MB" >&2; exit 1; fi
echo "pack-check: ok"
