#!/usr/bin/env bash
# pve.cloud.snapshot against a private pvesim (time scale 0): take, describe, retain, roll back and remove
# snapshots of a VM and a container; check and diff mode, idempotence with zero writes in pvesim's request log,
# bad input failing before any write.
set -eu
source ../setup_pvesim/pvesim-env.sh
ansible-playbook main.yml "$@"
