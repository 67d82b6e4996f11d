#!/usr/bin/env bash
# The main job on the bundled example, end to end, against the project's
# PAVE API emulator on 127.0.0.1 (no network needed):
#   build, start the emulator, validate, plan, apply, apply again (no change,
#   no request), show the state ref's history.
set -euo pipefail
cd "$(dirname "$0")/.."

meson setup build >/dev/null 2>&1 || meson setup --reconfigure build >/dev/null
ninja -C build >/dev/null
bin=$PWD/build/cmd/pavesync

work=$(mktemp -d)
trap 'kill "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null; rm -rf "$work"' EXIT

# Demo credentials: the emulator knows them, nothing real is involved.
export DOWNTOWN_API_KEY=demo-downtown-key DOWNTOWN_API_SECRET=demo-downtown-secret
export DOWNTOWN_USERNAME=downtown AIRPORT_API_KEY=demo-airport-key AIRPORT_USERNAME=airport
export HOOK_TOKEN=demo-hook-token AIRPORT_SECRET_FILE=$work/airport.secret
printf 'demo-airport-secret\n' >"$AIRPORT_SECRET_FILE"

python3 tests/emulator/pave_emulator.py --port 0 --port-file "$work/port" \
  --account "$DOWNTOWN_API_KEY:$DOWNTOWN_API_SECRET:$DOWNTOWN_USERNAME" \
  --account "$AIRPORT_API_KEY:demo-airport-secret:$AIRPORT_USERNAME" >/dev/null &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
export PAVE_API_URL=http://127.0.0.1:$(cat "$work/port")
export PAVESYNC_STATE_REPO=$work/state
cfg=examples/pavesync.yaml

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$bin" -c "$cfg" validate
step "$bin" -c "$cfg" plan
step "$bin" -c "$cfg" apply
step "$bin" -c "$cfg" apply
step git --git-dir "$PAVESYNC_STATE_REPO" log --stat pavesync-state
