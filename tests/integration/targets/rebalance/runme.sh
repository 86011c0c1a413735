#!/usr/bin/env bash
# The pve.cloud.rebalance role and the maintenance playbook against a private pvesim (time scale 0) holding a
# skewed three-node cluster: check mode sends zero writes, one run converges, the second plans nothing and sends
# zero writes; maintenance empties a node with every guest running, and its end brings the guests back; bad input
# fails before any write, naming the parameter.
set -eu
source ../setup_pvesim/pvesim-env.sh --scenario files/scenario.yml
ansible-playbook setup.yml "$@"
ansible-playbook check.yml --check "$@"
ansible-playbook main.yml "$@"
ansible-playbook maintenance.yml "$@"
