# shellcheck shell=bash
# Shared set-up for the Makefile and .ci/run: virtual environments with the pinned toolchain,
# the offline pip bootstrap for ansible-test, and a copy of the collection at
# $WORK/ansible_collections/pve/cloud (ansible-test refuses to run anywhere else).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS=$(sed -n 's/^namespace: *\([^ #]*\).*/\1/p' "$ROOT/galaxy.yml")
NAME=$(sed -n 's/^name: *\([^ #]*\).*/\1/p' "$ROOT/galaxy.yml")
# The collection copy must live outside this git checkout: ansible-test looks for the enclosing git
# repository and would see every file under .work/ as ignored.
WORK=${WORK:-${TMPDIR:-/tmp}/pve-cloud-$(printf '%s' "$ROOT" | sha1sum | cut -c1-10)}
# virtual environments may be shared by several WORK copies (parallel checks by different people)
VENVS=${VENVS:-$ROOT/.work}
COLL=$WORK/ansible_collections/$NS/$NAME
export PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {
  # pyenv shims for non-global versions exist but fail, so prefer the real binaries.
  local ver=$1 c
  for c in "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/"$ver".*/bin/python"$ver" \
           "$(command -v "python$ver" || true)" /usr/bin/python"$ver" /usr/local/bin/python"$ver"; do
    if [ -x "$c" ] && "$c" -c 'import sys' >/dev/null 2>&1; then echo "$c"; return 0; fi
  done
  echo "python$ver not found: install CPython $ver (pyenv install $ver, or apt-get install python$ver-venv)" >&2
  return 1
}

# make_venv DIR PYVER REQUIREMENTS: creates DIR, and brings it up to date in place when the
# requirements (or the simulator's pyproject) changed.
make_venv() {
  local dir=$1 ver=$2 req=$3 stamp
  stamp=$({ cat "$ROOT/$req" "$ROOT/simulator/pyproject.toml" 2>/dev/null || true; } | sha1sum | cut -c1-12)
  if [ ! -f "$dir/.stamp-$stamp" ]; then
    if [ ! -x "$dir/bin/python" ]; then
      echo "::: creating $dir (Python $ver, $req)"
      "$(find_python "$ver")" -m venv "$dir"
      pip_install "$dir" --upgrade pip
    fi
    echo "::: installing $req into $dir"
    (cd "$ROOT" && pip_install "$dir" -r "$req")
    rm -f "$dir"/.stamp-*
    touch "$dir/.stamp-$stamp"
  fi
}

# pip_install VENV ARGS...: pip install with a short progress report instead of pip's output (silent for a
# minute with -q, pages without); the whole output goes to VENV/pip.log and is shown in part if pip fails.
pip_install() {
  local dir=$1 log=$1/pip.log warnings start=$SECONDS
  shift
  if ! "$dir/bin/pip" install --progress-bar off "$@" 2>&1 | tee "$log" | pip_progress; then
    echo "pip install $* failed; the end of $log:" >&2
    tail -n 25 "$log" >&2
    return 1
  fi
  warnings=$(grep -c -i 'warning' "$log" || true)
  echo "    done in $((SECONDS - start))s$([ "$warnings" -eq 0 ] || echo "; pip printed $warnings warning lines, see $log")"
}

# pip_progress: reads pip's output; on a terminal one line that counts up, elsewhere a line per 20 packages.
pip_progress() {
  local line n=0 tty=false
  if [ -t 1 ]; then tty=true; fi
  while IFS= read -r line; do
    case $line in
      Collecting\ *|Obtaining\ *|Processing\ *|Requirement\ already\ satisfied:*)
        n=$((n + 1))
        if $tty; then
          printf '\r\033[K    %3d packages resolved (%s)' "$n" "$(cut -c1-60 <<<"${line#* }")"
        elif [ $((n % 20)) -eq 0 ]; then
          echo "    $n packages resolved"
        fi ;;
      Installing\ collected\ packages:*)
        if $tty; then printf '\r\033[K'; fi
        echo "    $n packages resolved; installing $(tr -cd , <<<"$line" | wc -c | awk '{print $1 + 1}') of them" ;;
    esac
  done
  if $tty && [ "$n" -gt 0 ]; then printf '\r\033[K'; fi
}

# seed_get_pip VENV: ansible-test downloads get-pip from an unreachable host; pre-seed its cache.
seed_get_pip() {
  local venv=$1 pipv
  pipv=$("$venv/bin/python" - <<'PY'
import pathlib, re, ansible_test
src = (pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py').read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
  mkdir -p "$HOME/.ansible/test/cache"
  cp "$ROOT/.ci/ansible_test_get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pipv//./_}.py"
}

# ensure_system_tools: Debian packages the checks need (ansible-test skips shellcheck silently without it).
ensure_system_tools() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "::: installing shellcheck (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck; } >/dev/null
  else
    echo "shellcheck is missing: install the Debian package shellcheck (sudo apt-get install shellcheck)" >&2
    return 1
  fi
}

setup_venv() {
  ensure_system_tools
  VENV=$VENVS/venv
  make_venv "$VENV" 3.12 requirements-dev.txt
  seed_get_pip "$VENV"
  export PATH="$VENV/bin:$PATH"
}

setup_oldest_venv() {
  OLD_VENV=$VENVS/venv-oldest
  make_venv "$OLD_VENV" 3.11 requirements-oldest.txt
  seed_get_pip "$OLD_VENV"
}

sync_collection() {
  rm -rf "$COLL" && mkdir -p "$COLL"
  if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$COLL"
  else
    (cd "$ROOT" && tar --exclude=./.work --exclude=./tests/output --exclude=./.ansible -cf - .) | tar -xf - -C "$COLL"
  fi
  export ANSIBLE_COLLECTIONS_PATH=$WORK
}
