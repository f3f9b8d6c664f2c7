#!/usr/bin/env bash
# Install depth-streamer as a systemd service: a venv in /opt/depth-streamer, the depth-streamer@.service template,
# and /etc/depth-streamer/cam0.toml as a first instance's config. Safe to run again (upgrades the venv and the unit,
# never overwrites a config you edited).
#
#   sudo systemd/install.sh                 install or upgrade on this machine
#   systemd/install.sh --dry-run            print what would be done, change nothing
#   DESTDIR=/tmp/stage SKIP_VENV=1 systemd/install.sh    lay the files out under a staging root (packaging, tests)
#
# Environment: DESTDIR (staging root, default none), PREFIX (default /opt/depth-streamer), SYSTEMD_DIR (default
# /etc/systemd/system), PYTHON (default python3), SKIP_VENV=1 (do not build the venv), TORCH_INDEX_URL (e.g.
# https://download.pytorch.org/whl/cpu for CPU-only torch wheels).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/depth-streamer}"
SYSTEMD_DIR="${SYSTEMD_DIR:-/etc/systemd/system}"
CONFIG_DIR=/etc/depth-streamer  # fixed: the unit's ConfigurationDirectory=depth-streamer and %i.toml point here
PYTHON="${PYTHON:-python3}"
SKIP_VENV="${SKIP_VENV:-0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
UNIT=depth-streamer@.service
DRY_RUN=0

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

for arg in "$@"; do
  case "$arg" in
    --dry-run|-n) DRY_RUN=1 ;;
    --help|-h) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

# Print every action; run it unless this is a dry run.
run() {
  echo "+ $*"
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

for f in "systemd/$UNIT" configs/default.toml constraints.txt pyproject.toml; do
  [ -f "$REPO/$f" ] || { echo "install.sh: $REPO/$f is missing; run this from a depth-streamer checkout" >&2; exit 1; }
done
if [ -n "$DESTDIR" ] && [ "$SKIP_VENV" != 1 ]; then
  # A venv records its own absolute path: one built under a staging root would not run once moved into place.
  echo "install.sh: DESTDIR needs SKIP_VENV=1 (a venv cannot be staged and moved); build it on the target" >&2
  exit 2
fi
if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  for dir in "$PREFIX" "$SYSTEMD_DIR" "$CONFIG_DIR"; do
    parent="$dir"; while [ ! -e "$parent" ]; do parent="$(dirname "$parent")"; done
    [ -w "$parent" ] || { echo "install.sh: cannot write $dir; run with sudo (or see --help for DESTDIR)" >&2; exit 1; }
  done
fi

VENV="$PREFIX/venv"

# 1. The venv. torch and torchvision first, as a matched pair from one index: timm imports torchvision, and one
#    built for another torch fails at import. Then the package itself (not editable: the checkout may go away).
if [ "$SKIP_VENV" = 1 ]; then
  echo "skipping the venv (SKIP_VENV=1)"
else
  [ -x "$VENV/bin/python" ] || run "$PYTHON" -m venv "$VENV"
  run "$VENV/bin/python" -m pip install -q --upgrade pip
  torch_index=()
  [ -n "$TORCH_INDEX_URL" ] && torch_index=(--index-url "$TORCH_INDEX_URL")
  run "$VENV/bin/python" -m pip install -q "${torch_index[@]}" -c "$REPO/constraints.txt" torch torchvision
  run "$VENV/bin/python" -m pip install -q -c "$REPO/constraints.txt" "$REPO"
  run "$VENV/bin/depth-streamer" --help >/dev/null
fi

# 2. Reference material beside the venv: the README the unit's Documentation= points at, the example configs.
run install -d -m 0755 "$DESTDIR$PREFIX/examples"
run install -m 0644 "$REPO"/configs/*.toml "$DESTDIR$PREFIX/examples/"
if [ -f "$REPO/README.md" ]; then run install -m 0644 "$REPO/README.md" "$DESTDIR$PREFIX/README.md"; fi

# 3. The unit template, its paths moved when PREFIX is not the default. Always replaced: it is ours, local changes
#    belong in drop-ins (systemctl edit depth-streamer@cam0).
run install -d -m 0755 "$DESTDIR$SYSTEMD_DIR"
if [ "$DRY_RUN" = 0 ]; then
  tmp="$(mktemp)"
  trap 'rm -f "$tmp"' EXIT
  sed "s#/opt/depth-streamer#$PREFIX#g" "$REPO/systemd/$UNIT" > "$tmp"
  install -m 0644 "$tmp" "$DESTDIR$SYSTEMD_DIR/$UNIT"
  echo "+ install $UNIT -> $DESTDIR$SYSTEMD_DIR/$UNIT"
else
  echo "+ install $UNIT -> $DESTDIR$SYSTEMD_DIR/$UNIT (ExecStart under $PREFIX)"
fi

# 4. The first instance's config, only if there is none: a second run must never undo an operator's edits.
#    World-readable because the service runs as a dynamic user; keep camera passwords out of it (see README).
run install -d -m 0755 "$DESTDIR$CONFIG_DIR"
if [ -e "$DESTDIR$CONFIG_DIR/cam0.toml" ]; then
  echo "keeping $DESTDIR$CONFIG_DIR/cam0.toml (already there)"
else
  run install -m 0644 "$REPO/configs/default.toml" "$DESTDIR$CONFIG_DIR/cam0.toml"
fi

# 5. Tell a running systemd about the new unit; not when staging, and not where systemd is not PID 1 (containers).
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  run systemctl daemon-reload
else
  echo "not reloading systemd (staged install, or systemd is not running here)"
fi

echo
if [ "$DRY_RUN" = 1 ]; then echo "Dry run: nothing was changed. After a real install:"; else
  echo "depth-streamer installed. Next steps:"; fi
cat <<EOF
  1. Edit $CONFIG_DIR/cam0.toml: [source] url = your camera (/dev/video0, rtsp://...); one <name>.toml per camera.
  2. Fetch the MiDaS weights once into the service's state directory, as the service's (dynamic) user:
       sudo systemd-run --wait --pty -p DynamicUser=yes -p StateDirectory=depth-streamer \\
            $VENV/bin/depth-streamer weights fetch
  3. Check the config and the weights (as root, to read the service's state directory):
       sudo STATE_DIRECTORY=/var/lib/depth-streamer $VENV/bin/depth-streamer run --config $CONFIG_DIR/cam0.toml --check
  4. Start it now and at boot:   sudo systemctl enable --now depth-streamer@cam0
     Follow it:                  journalctl -fu depth-streamer@cam0
EOF
