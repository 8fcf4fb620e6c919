#!/bin/sh
# The Raft snapshot: log in with Kubernetes auth as role raft-backup (policy: read sys/storage/raft/snapshot only;
# kubernetes/secrets/vault/vault.yaml) and save the snapshot for upload.sh.
set -eu
VAULT_TOKEN="$(vault write -field=token auth/kubernetes/login role=raft-backup jwt=@/var/run/secrets/kubernetes.io/serviceaccount/token)"
export VAULT_TOKEN
vault operator raft snapshot save /backup/vault.snap
