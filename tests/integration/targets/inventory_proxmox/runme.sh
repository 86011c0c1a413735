#!/usr/bin/env bash
# ansible-inventory with pve.cloud.proxmox against a private pvesim; the checks are in files/check.py.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=../setup_pvesim/pvesim-env.sh
source ../setup_pvesim/pvesim-env.sh --scenario files/scenario.yml
python files/check.py "$@"
