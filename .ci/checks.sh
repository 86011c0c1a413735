#!/usr/bin/env bash
# Runs the named checks in order, stopping at the first failure, and ends with one line
# "N passed, N failed". Usage: .ci/checks.sh [all|CHECK...]
source "$(dirname "$0")/env.sh"

ALL_CHECKS=(sanity units demo pvesim integration ansible-lint yamllint changelog molecule build
            ee sanity-oldest integration-oldest)

check_sanity() { (cd "$COLL" && ansible-test sanity --python 3.12 --color no --exclude simulator/); }
check_units() { (cd "$COLL" && ansible-test units --local --python 3.12 --color no); }
# demo: every step of `make demo` against a fresh pvesim (stopped at the end), and README.md shows what it ran.
check_demo() { bash "$ROOT/playbooks/demo/run.sh" --check; }
check_pvesim() { (cd "$ROOT/simulator" && python -m pytest -q -p no:cacheprovider tests); }
check_integration() { (cd "$COLL" && ansible-test integration --local --python 3.12 --color no); }
check_ansible-lint() { (cd "$COLL" && ansible-lint --offline --profile production -q); }
check_yamllint() { (cd "$COLL" && yamllint -s .); }
check_changelog() { (cd "$COLL" && antsibull-changelog lint); }
check_molecule() { (cd "$COLL/extensions" && molecule test --all); }
check_build() {
  rm -rf "$WORK/dist" "$WORK/installed"
  (cd "$COLL" && ansible-galaxy collection build --force --output-path "$WORK/dist") &&
  ansible-galaxy collection install --force -p "$WORK/installed" "$WORK/dist/$NS-$NAME-"*.tar.gz &&
  check_docs "$WORK/installed"
}
# check_docs PATH: every module and inventory plugin of the installed collection renders with examples
# (and modules with return values).
check_docs() {
  local type plugin out
  for type in module inventory; do
    for plugin in $(ANSIBLE_COLLECTIONS_PATH="$1" ansible-doc -t "$type" -l "$NS.$NAME" --json |
                    python -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))'); do
      out=$(ANSIBLE_COLLECTIONS_PATH="$1" ANSIBLE_NOCOLOR=1 ansible-doc -t "$type" "$plugin") || return 1
      grep -q '^EXAMPLES:' <<<"$out" || { echo "$plugin: no EXAMPLES in ansible-doc" >&2; return 1; }
      if [ "$type" = module ] && ! grep -q '^RETURN VALUES:' <<<"$out"; then
        echo "$plugin: no RETURN VALUES in ansible-doc" >&2; return 1
      fi
      echo "ansible-doc -t $type $plugin: ok"
    done
  done
}
# ee: ansible-builder writes the build context of docs/awx/execution-environment.yml (no container engine
# needed), and what it introspects from the installed collection is requirements.txt, whose lower bounds
# requirements-oldest.txt pins exactly (so the oldest-pair job tests the bounds an EE may resolve to).
check_ee() {
  local ee=$WORK/ee
  rm -rf "$ee" && mkdir -p "$ee"
  ansible-builder create -f "$COLL/docs/awx/execution-environment.yml" -c "$ee/context" >/dev/null &&
  grep -q 'name: pve.cloud' "$ee/context/_build/requirements.yml" &&
  (cd "$COLL" && ansible-galaxy collection build --output-path "$ee" >/dev/null) &&
  ansible-galaxy collection install --force -p "$ee/installed" "$ee/$NS-$NAME-"*.tar.gz >/dev/null &&
  ansible-builder introspect --sanitize --write-pip "$ee/pip.txt" "$ee/installed" >/dev/null &&
  python - "$ee/pip.txt" "$ROOT/requirements.txt" "$ROOT/requirements-oldest.txt" <<'PY'
import re, sys
from packaging.version import Version
def reqs(path):
    return [line.split('#')[0].strip() for line in open(path) if line.split('#')[0].strip()]
introspected, declared, oldest = (reqs(p) for p in sys.argv[1:])
if introspected != declared:
    sys.exit('ansible-builder introspects %s, requirements.txt says %s' % (introspected, declared))
pins = dict(line.split('==') for line in oldest if '==' in line)
for req in declared:
    name, low = re.match(r'([A-Za-z0-9_.-]+)>=([0-9.]+)', req).groups()
    if name not in pins or Version(pins[name]) != Version(low):
        sys.exit('requirements-oldest.txt pins %s==%s, the lower bound is %s' % (name, pins.get(name), low))
    print('%s: lower bound %s pinned in requirements-oldest.txt' % (req, low))
PY
}
check_sanity-oldest() {
  setup_oldest_venv
  (cd "$COLL" && PATH="$OLD_VENV/bin:$PATH" ansible-test sanity --python 3.11 --color no --exclude simulator/)
}
check_integration-oldest() {
  setup_oldest_venv
  (cd "$COLL" && PATH="$OLD_VENV/bin:$PATH" ansible-test integration --local --python 3.11 --color no)
}

main() {
  local checks=("$@") passed=0 failed=0 start check s
  if [ ${#checks[@]} -eq 0 ] || [ "${checks[0]}" = all ]; then checks=("${ALL_CHECKS[@]}"); fi
  start=$SECONDS
  setup_venv
  sync_collection
  for check in "${checks[@]}"; do
    s=$SECONDS
    echo "::: ${check}"
    if "check_${check}"; then
      passed=$((passed + 1))
      echo "::: ${check} passed in $((SECONDS - s))s"
    else
      failed=$((failed + 1))
      echo "::: ${check} FAILED after $((SECONDS - s))s; stopping here (run 'make ${check}' to repeat it)" >&2
      break
    fi
  done
  echo "::: total $((SECONDS - start))s"
  echo "${passed} passed, ${failed} failed"
  [ "$failed" -eq 0 ]
}

main "$@"
