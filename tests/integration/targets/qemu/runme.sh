#!/usr/bin/env bash
# pve.cloud.qemu against a private pvesim (time scale 0): every state, create and clone, check and diff
# mode, idempotence measured in pvesim's request log, fault injection, bad input, parallel creates.
set -eu
source ../setup_pvesim/pvesim-env.sh
export ANSIBLE_ROLES_PATH=../
ansible-playbook -i inventory.ini main.yml -f 10 "$@"
