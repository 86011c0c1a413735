#!/usr/bin/env bash
# pve.cloud.lxc against a private pvesim (time scale 0): every state, create from a volume id and from an
# appliance name, clone, volumes, networks, features, check and diff mode, idempotence and API budgets
# measured in pvesim's request log, fault injection, bad input, parallel creates.
set -eu
source ../setup_pvesim/pvesim-env.sh
ansible-playbook -i inventory.ini main.yml -f 10 "$@"
