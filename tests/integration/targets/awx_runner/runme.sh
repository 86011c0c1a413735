#!/usr/bin/env bash
# The AWX guide end to end through ansible-runner (the engine AWX runs jobs and inventory updates with):
# the credential type of docs/awx renders the environment and the CA file as AWX does, the job templates run
# the roles' playbooks (provision_cluster.yml, teardown.yml) and an inventory update with the ACLs of
# docs/awx/pve-privileges.yml, and nothing but that environment carries a connection setting.
set -eu
cd "$(dirname "$0")"
# shellcheck source=../setup_pvesim/pvesim-env.sh
source ../setup_pvesim/pvesim-env.sh --nodes 2 --scenario files/scenario.yml
# ansible-test runs a copy of the target; the guide's files are in the collection it tests.
COLLECTION_ROOT=${ANSIBLE_COLLECTIONS_PATH%%:*}/ansible_collections/pve/cloud
export COLLECTION_ROOT
python files/awx_job.py "$@"
