#!/usr/bin/env bash
# Print the path of a working `uv`, installing one for this project when the machine has none.
#
#   uv="$(tools/bootstrap-uv.sh)" && "$uv" sync --frozen       (what `make env` runs)
#
# The path goes to stdout; progress and errors go to stderr. In order:
#   1. `uv` on PATH;
#   2. the project's own copy in .state/uv-bootstrap (made by an earlier run);
#   3. a throwaway venv there (`python3 -m venv`) with `pip install uv` inside it. The system's
#      Python is never changed, so Debian 12 and Ubuntu 24.04 (no pip, or pip refusing with
#      "externally-managed-environment", PEP 668) work the same as any other machine;
#   4. uv's standalone installer (https://astral.sh/uv/install.sh) into the same folder.
# When none works it says why and which command fixes it, and exits 1.
#
# Settings (environment): PYTHON (default python3), UV_BOOTSTRAP_DIR (default
# .state/uv-bootstrap beside this script's parent), UV_VERSION (default: the release that
# wrote uv.lock, the same one the Dockerfiles copy).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
folder="${UV_BOOTSTRAP_DIR:-$here/.state/uv-bootstrap}"
version="${UV_VERSION:-0.13.9}"
installer="https://astral.sh/uv/install.sh"

say() { echo "bootstrap-uv: $*" >&2; }
works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if found="$(command -v uv 2>/dev/null)" && works "$found"; then
    echo "$found"
    exit 0
fi
for candidate in "$folder/venv/bin/uv" "$folder/bin/uv"; do
    if works "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

# 3. A venv of its own: needs python3 with the venv module and ensurepip.
venv_error=""
if ! command -v "$python" >/dev/null 2>&1; then
    venv_error="$python is not installed (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
elif ! "$python" -c "import venv, ensurepip" >/dev/null 2>&1; then
    minor="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)"
    venv_error="$python ($("$python" --version 2>&1)) cannot create a venv: its ensurepip module \
is missing. Fix (Debian/Ubuntu): sudo apt-get install python3-venv (the package for this \
Python is python${minor}-venv)"
else
    say "uv not found; installing uv ${version} into $folder/venv (python3 -m venv + pip) ..."
    rm -rf "$folder/venv"
    mkdir -p "$folder"
    if log="$("$python" -m venv "$folder/venv" 2>&1)" \
        && log="$("$folder/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "uv==${version}" 2>&1)" \
        && works "$folder/venv/bin/uv"; then
        echo "$folder/venv/bin/uv"
        exit 0
    fi
    venv_error="pip could not install uv==${version} into $folder/venv: $(echo "$log" | grep -v '^\s*$' | tail -n 1)"
    rm -rf "$folder/venv"
fi
say "$venv_error"

# 4. uv's standalone installer, where the network reaches it.
fetch=""
if command -v curl >/dev/null 2>&1; then
    fetch="curl -LsSf --max-time 60"
elif command -v wget >/dev/null 2>&1; then
    fetch="wget -qO- --timeout=60"
fi
if [ -n "$fetch" ]; then
    say "trying uv's standalone installer ($installer) ..."
    if script="$($fetch "https://astral.sh/uv/${version}/install.sh" 2>/dev/null)" \
        && env UV_INSTALL_DIR="$folder/bin" UV_NO_MODIFY_PATH=1 INSTALLER_NO_MODIFY_PATH=1 \
            sh -c "$script" >/dev/null 2>&1 \
        && works "$folder/bin/uv"; then
        echo "$folder/bin/uv"
        exit 0
    fi
    say "the standalone installer is not reachable from here"
fi

say "no uv. Fix one of: (a) the line above; (b) install uv yourself: \`curl -LsSf $installer | sh\` \
(or \`pipx install uv\`), then run make again."
exit 1
