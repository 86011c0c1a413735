#!/usr/bin/env bash
# Cross-check: the qemu create / clone / configure / start / stop / absent cycle against PyPI fakepve, an
# independent PVE simulator, so the module is not tuned to pvesim. Differences: docs/fakepve-crosscheck.md.
set -eu
source ../setup_fakepve/fakepve-env.sh guests.json
ansible-playbook main.yml "$@"
