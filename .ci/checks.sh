#!/usr/bin/env bash
# Runs the named checks in order, stopping at the first failure, and ends with one line
# "N passed, N failed". Usage: .ci/checks.sh [all|CHECK...]
source "$(dirname "$0")/env.sh"

ALL_CHECKS=(sanity units demo pvesim integration ansible-lint yamllint changelog molecule build
            ee doc-lint tarball sanity-oldest integration-oldest)

check_sanity() { (cd "$COLL" && ansible-test sanity --python 3.12 --color no --exclude simulator/); }
check_units() { (cd "$COLL" && ansible-test units --local --python 3.12 --color no); }
# demo: every step of `make demo` against a fresh pvesim (stopped at the end), and README.md shows what it ran.
check_demo() { bash "$ROOT/playbooks/demo/run.sh" --check; }
check_pvesim() { (cd "$ROOT/simulator" && python -m pytest -q -p no:cacheprovider tests); }
check_integration() { (cd "$COLL" && ansible-test integration --local --python 3.12 --color no); }
check_ansible-lint() { (cd "$COLL" && ansible-lint --offline --profile production -q); }
check_yamllint() { (cd "$COLL" && yamllint -s .); }
# Fragments are RST: ansible-doc markup such as C(...) would show up raw in CHANGELOG.md and .rst.
check_changelog() {
  (cd "$COLL" && antsibull-changelog lint) || return 1
  if grep -nE '(^|[^A-Za-z0-9_])[BCEIMOPRUV]\([^)]*\)' "$COLL"/changelogs/fragments/*.yml; then
    echo "changelog fragments: write \`\`name\`\` (RST), not C(name)/O(name)/E(name)/V(name)" >&2; return 1
  fi
}
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
# doc-lint: antsibull-docs lints the plugin docs and the extra docs (docs/*.md written as RST, as the docs
# site and a release carry them).
check_doc-lint() {
  python "$ROOT/docs/docsite/md2rst.py" "$COLL" >/dev/null &&
  (cd "$COLL" && antsibull-docs lint-collection-docs --plugin-docs .) &&
  echo "antsibull-docs lint-collection-docs: clean" &&
  python - "$COLL" <<'PY'
import glob, os, sys, yaml
from ansible.parsing.plugin_docs import read_docstring
root = sys.argv[1]
modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(root, 'plugins/modules/*.py'))
                 if not p.endswith('__init__.py'))
group = sorted(yaml.safe_load(open(os.path.join(root, 'meta/runtime.yml')))['action_groups']['proxmox'])
if group != modules:
    sys.exit('meta/runtime.yml action group proxmox is %s, the modules are %s' % (group, modules))
for module in modules:
    doc = read_docstring(os.path.join(root, 'plugins/modules/%s.py' % module))['doc']
    if 'pve.cloud.api.actiongroups' not in doc.get('extends_documentation_fragment', []):
        sys.exit('%s: its docs do not say it is in group/pve.cloud.proxmox (pve.cloud.api.actiongroups)' % module)
print('action group pve.cloud.proxmox: every module (%s)' % ', '.join(modules))
PY
}
# release_to DIR: what `make release` publishes, built from a copy of the collection: CHANGELOG.md and
# CHANGELOG.rst for galaxy.yml's version, and the tarball, which must hold only files git tracks plus
# what the build generates, and nothing that looks like test output, a cache or a key.
release_to() {
  local out=$1 src=$WORK/release/ansible_collections/$NS/$NAME
  rm -rf "$WORK/release" "$out" && mkdir -p "$src" "$out"
  (cd "$COLL" && tar --exclude=./tests/output -cf - .) | tar -xf - -C "$src"
  python "$ROOT/docs/docsite/md2rst.py" "$src" >/dev/null &&
  (cd "$src" && antsibull-changelog release >/dev/null) &&
  cp "$src/CHANGELOG.md" "$src/CHANGELOG.rst" "$out/" &&
  (cd "$src" && ansible-galaxy collection build --output-path "$out" >/dev/null) &&
  (cd "$ROOT" && git ls-files) > "$WORK/release/tracked.txt" &&
  python - "$out/$NS-$NAME-"*.tar.gz "$WORK/release/tracked.txt" <<'PY'
import fnmatch, re, sys, tarfile
tarball, tracked = sys.argv[1], set(open(sys.argv[2]).read().split('\n'))
generated = {'MANIFEST.json', 'FILES.json', 'CHANGELOG.md', 'CHANGELOG.rst', 'changelogs/changelog.yaml'}
forbidden = ['tests/output/*', '*/__pycache__/*', '*.pyc', '.pytest_cache/*', '.ansible/*', '.cache/*', '*.egg-info/*',
             'simulator/*', 'benchmarks/*', '.work/*', 'dist/*', '*.tar.gz', '*.pem', '*.key', '*.crt', '*.p12',
             '*id_rsa*', '*id_ed25519*', 'connection.json', 'changelogs/.plugin-cache.yaml']
key = re.compile(rb'-----BEGIN [A-Z ]*PRIVATE KEY-----')
bad = []
with tarfile.open(tarball) as tar:
    members = tar.getmembers()
    for member in members:
        if not member.isfile():
            continue
        name = member.name
        if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch('/' + name, '*/' + p) for p in forbidden):
            bad.append('%s: test output, cache, build leftover or key file' % name)
        elif name not in tracked and name not in generated and not fnmatch.fnmatch(name, 'docs/docsite/rst/*.rst'):
            bad.append('%s: not a file git tracks' % name)
        elif key.search(tar.extractfile(member).read()):
            bad.append('%s: holds a private key' % name)
if bad:
    sys.exit('%s:\n  %s' % (tarball, '\n  '.join(bad)))
print('%s: %d entries, no test output, caches, untracked files or keys' % (tarball, len(members)))
PY
}
check_tarball() { release_to "$WORK/release-dist"; }
# Not in ALL_CHECKS: make release, make docs.
check_release() { release_to "$ROOT/dist" && ls "$ROOT/dist"; }
check_docs-html() {
  local site=$WORK/docsite
  rm -rf "$site" && mkdir -p "$site"
  python "$ROOT/docs/docsite/md2rst.py" "$COLL" >/dev/null &&
  antsibull-docs sphinx-init --use-current --squash-hierarchy --lenient --dest-dir "$site" "$NS.$NAME" >/dev/null &&
  bash "$site/build.sh" >"$site/build.log" 2>&1 &&
  { grep -i 'warning\|error' "$site/build.log" | grep -v 'intersphinx\|inventories\|objects.inv' || true; } &&
  rm -rf "$ROOT/.work/docs" && mkdir -p "$ROOT/.work/docs" && cp -a "$site/build/html" "$ROOT/.work/docs/" &&
  echo "HTML docs: $ROOT/.work/docs/html/index.html"
}
check_sanity-oldest() {
  setup_oldest_venv
  (cd "$COLL" && PATH="$OLD_VENV/bin:$PATH" ansible-test sanity --python 3.11 --color no --exclude simulator/)
}
# The oldest pair runs the targets where ansible-core 2.16 and the lower bounds of proxmoxer/requests can differ
# from the newest (the client and both guest kinds, the inventory, streamed uploads, AWX's engine); the other
# targets exercise the same code paths and run on the newest pair only, to keep make test within its budget.
OLDEST_TARGETS=(qemu lxc inventory_proxmox template awx_runner)
check_integration-oldest() {
  setup_oldest_venv
  (cd "$COLL" && PATH="$OLD_VENV/bin:$PATH" ansible-test integration --local --python 3.11 --color no "${OLDEST_TARGETS[@]}")
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
