#!/usr/bin/env bash
# The least-privilege ACLs of docs/awx/pve-privileges.yml against pvesim: a privilege-separated token with
# exactly those privileges runs each module's cases, and with any one privilege less the cases fail
# naming it. pvesim enforces the privileges the way PVE's permission checks do (schema and handlers).
set -eu
cd "$(dirname "$0")"
# shellcheck source=../setup_pvesim/pvesim-env.sh
source ../setup_pvesim/pvesim-env.sh --nodes 2 --scenario files/scenario.yml
# ansible-test runs a copy of the target; the documentation is in the collection it tests.
PRIVILEGES_FILE=${ANSIBLE_COLLECTIONS_PATH%%:*}/ansible_collections/pve/cloud/docs/awx/pve-privileges.yml
export PRIVILEGES_FILE
ansible-playbook main.yml "$@"
