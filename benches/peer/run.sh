#!/bin/sh
# The peer comparison of issue 14: avatar-console's `reset` against pydiscourse 1.7.0 on the same
# `avatar-console sandbox`, printing the table of the issue. Not part of CI (it takes ~15 minutes:
# two cases run against Discourse's default 60 requests a minute).
#
#   benches/peer/run.sh              # all cases
#   benches/peer/run.sh --skip-120   # without the 120-user case (~4 minutes)
#
# PEER_VENV (default target/peer-venv) is the virtualenv; AVATAR_CONSOLE_BIN the binary (default:
# target/release/avatar-console, built if missing).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${PEER_VENV:-$root/target/peer-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check pydiscourse==1.7.0
bin=${AVATAR_CONSOLE_BIN:-$root/target/release/avatar-console}
if [ ! -x "$bin" ]; then
    cargo build --release --manifest-path "$root/Cargo.toml" --bin avatar-console
fi
exec "$venv/bin/python" "$here/peer.py" --bin "$bin" "$@"
