#!/usr/bin/env bash
# Runs the named checks in order, stopping at the first failure, and ends with one line
# "N passed, N failed". Usage: .ci/checks.sh [all|CHECK...]
source "$(dirname "$0")/env.sh"

ALL_CHECKS=(sanity units demo pvesim integration ansible-lint yamllint changelog molecule build
            sanity-oldest integration-oldest)

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
