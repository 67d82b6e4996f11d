#!/usr/bin/env bash
# Install what pavesync needs to build and test, from Debian's packages.
# Does nothing when everything is already there; uses sudo when not root.
set -euo pipefail

packages=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev git ca-certificates
  libyaml-dev libcurl4-openssl-dev libjansson-dev libgit2-dev libssl-dev zlib1g-dev
  libcmocka-dev clang-format python3 python3-jsonschema python3-yaml openssl
  scdoc groff-base bash-completion zsh fish
  dpkg-dev debhelper fakeroot lintian
  openssh-client openssh-server util-linux mount systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
