#!/usr/bin/env bash
# Build the Azure Functions deployment package: dist/mpe-approver.zip
#
#   infra/package.sh [--out PATH]
#
# Layout (README "Mapping to Azure"): host.json, <Function>/function.json for every
# folder in function-definitions/, and the mpe-approver executable (mode 0755), all at
# the zip root. The binary is built with cargo-zigbuild against glibc 2.28 so it starts
# on the Functions Linux images (Debian bullseye, glibc 2.31). The build tools are
# pinned and installed into a private venv under target/, so a machine needs only
# rustup's cargo and python3 (with venv and pip). The package is checked by
# infra/check_package.py before the script reports success.
set -euo pipefail

# Pinned build tools (both from PyPI), verified together with rustc 1.95.0.
CARGO_ZIGBUILD_VERSION=0.24.0
ZIGLANG_VERSION=0.17.1
# Rust target with the glibc version suffix that cargo-zigbuild understands.
TARGET=x86_64-unknown-linux-gnu
GLIBC=2.28
BIN=mpe-approver

usage() { echo "usage: $0 [--out PATH]  (default: dist/$BIN.zip)" >&2; exit 2; }

out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
# A relative --out is relative to where the script was called from, not the repo root.
if [ -n "$out" ]; then
  case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${out:-$root/dist/$BIN.zip}

for tool in cargo python3; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool not found on PATH" >&2; exit 1; }
done

# --- build tools: a private venv, reused when it holds the pinned versions --------
venv=$root/target/package-tools/venv
tools_ok() {
  [ -x "$venv/bin/cargo-zigbuild" ] && [ -x "$venv/bin/python" ] || return 1
  [ "$("$venv/bin/cargo-zigbuild" --version 2>/dev/null)" = "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ] || return 1
  [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" = "$ZIGLANG_VERSION" ]
}
if ! tools_ok; then
  echo "== installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION and ziglang $ZIGLANG_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || {
    echo "package.sh: 'python3 -m venv $venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION"
  tools_ok || { echo "package.sh: tools in $venv are not at the pinned versions after install" >&2; exit 1; }
fi

# --- build ------------------------------------------------------------------------
# The host target's standard library; a no-op when it is the host (x86_64 Linux).
if command -v rustup >/dev/null; then rustup --quiet target add "$TARGET"; fi

# The root package holds only the approver (the simulator and the demo are the azure-sim and mpe-demo
# packages) and has no default features; --no-default-features keeps any added later out of the package.
echo "== cargo zigbuild --profile dist --locked --no-default-features --target $TARGET.$GLIBC"
# cargo-zigbuild runs zig as `$CARGO_ZIGBUILD_PYTHON_PATH -m ziglang` (default: the
# python3 on PATH) before it looks for a `zig` binary, so point it at the venv: the
# zig used is then exactly the pinned ziglang, whatever else is installed.
unset CARGO_ZIGBUILD_ZIG_PATH
PATH="$venv/bin:$PATH" CARGO_ZIGBUILD_PYTHON_PATH="$venv/bin/python" \
  cargo zigbuild --profile dist --locked --no-default-features --bin "$BIN" --target "$TARGET.$GLIBC"

# Honour CARGO_TARGET_DIR / .cargo/config: ask cargo where the target directory is.
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
binary=$target_dir/$TARGET/dist/$BIN
[ -x "$binary" ] || { echo "package.sh: build produced no executable at $binary" >&2; exit 1; }

# --- zip --------------------------------------------------------------------------
echo "== writing $out"
mkdir -p "$(dirname "$out")"
python3 - "$root" "$binary" "$BIN" "$out" <<'PY'
"""Deterministic zip: sorted entries, fixed timestamps, deflate, unix modes."""
import os
import sys
import zipfile
from pathlib import Path

root, binary, name, out = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
files = {"host.json": (root / "host.json", 0o644), name: (binary, 0o755)}
for fj in sorted((root / "function-definitions").glob("*/function.json")):
    files[f"{fj.parent.name}/function.json"] = (fj, 0o644)
if len(files) == 2:
    sys.exit(f"package.sh: no function-definitions/<Function>/function.json under {root}")

tmp = out.with_name(out.name + ".tmp")
with zipfile.ZipFile(tmp, "w") as zf:
    for arcname in sorted(files):
        src, mode = files[arcname]
        info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # unix, so that unzippers apply the mode below
        info.external_attr = (0o100000 | mode) << 16  # S_IFREG | permissions
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, src.read_bytes(), compresslevel=6)
os.replace(tmp, out)
PY

# --- check ------------------------------------------------------------------------
echo "== infra/check_package.py --repo . $out"
python3 infra/check_package.py --repo "$root" "$out"

size=$(stat -c %s "$out")
echo "package: $out ($size bytes; the checker's summary above gives the glibc ceiling)"
