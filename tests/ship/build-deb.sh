#!/usr/bin/env bash
# Build the Debian package the way a packager would: dpkg-buildpackage -us
# -uc -b (which runs the test suite again, with -Dtests=true) on a clean copy
# of the tree in a temporary directory, so the checkout is never touched.
# Then check with dpkg-deb -c that the .deb holds every shipped file, and
# print lintian's findings (an error fails; the README explains the warnings).
#
#   usage: tests/ship/build-deb.sh [LOGDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
logdir=${1:-.}
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd)

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/pavesync-$upstream
mkdir -p "$src"

# The files of the checkout (tracked, plus new ones not ignored), as they
# are in the work tree; never build directories or other ignored files.
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$src" -xf -
else
  tar --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$src" -xf -
fi

echo "== dpkg-buildpackage -us -uc -b (log: $logdir/dpkg-buildpackage.log)"
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b) >"$logdir/dpkg-buildpackage.log" 2>&1; then
  tail -n 60 "$logdir/dpkg-buildpackage.log"
  echo "dpkg-buildpackage failed"
  exit 1
fi
deb=$work/pavesync_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb
[ -f "$deb" ] || { echo "no $deb"; ls "$work"; exit 1; }

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents"
missing=0
for f in \
  /usr/bin/pavesync \
  /usr/share/man/man1/pavesync.1.gz \
  /usr/share/man/man5/pavesync.yaml.5.gz \
  /usr/share/bash-completion/completions/pavesync \
  /usr/share/zsh/vendor-completions/_pavesync \
  /usr/share/fish/vendor_completions.d/pavesync.fish \
  /usr/share/pavesync/pavesync.schema.json \
  /usr/share/pavesync/output.schema.json \
  /usr/share/doc/pavesync/copyright \
  /usr/share/doc/pavesync/changelog.gz \
  /usr/share/doc/pavesync/examples/crontab \
  /usr/share/doc/pavesync/examples/pavesync.service \
  /usr/share/doc/pavesync/examples/pavesync.timer \
  /usr/share/doc/pavesync/examples/pavesync.yaml \
  /usr/share/doc/pavesync/examples/pavesync.env; do
  grep -qxF "$f" "$work/contents" || { echo "missing from the .deb: $f"; missing=1; }
done
# The package's binary runs.
dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/bin/pavesync" --version | grep -qx "pavesync $upstream" ||
  { echo "the packaged binary does not say pavesync $upstream"; missing=1; }
# The tests ran during the build.
grep -qE '^Ok: +[1-9]' "$logdir/dpkg-buildpackage.log" ||
  { echo "dpkg-buildpackage ran no test"; missing=1; }
[ "$missing" -eq 0 ] || exit 1
echo "$(basename "$deb"): $(wc -l <"$work/contents") entries, every shipped file present"

if command -v lintian >/dev/null; then
  echo "== lintian"
  lintian "$work"/pavesync_*.changes 2>&1 |
    grep -v 'running with root privileges' | tee "$logdir/lintian.log" || true
  if grep -q '^E:' "$logdir/lintian.log"; then
    echo "lintian found errors"
    exit 1
  fi
fi
