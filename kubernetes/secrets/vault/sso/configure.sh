#!/bin/sh
# Enables Vault's OIDC auth method against Authentik and writes one policy and one role per group (the files beside
# this one). Idempotent: every write replaces what is there. The client secret is read from a file (@), never argv.
# No braces after $ here: Flux substitutes those in this Kustomization.
set -eu
if ! vault auth list -format=json | grep -q '"oidc/"'; then
  vault auth enable oidc
fi
vault write auth/oidc/config \
  oidc_discovery_url="$OIDC_DISCOVERY_URL" \
  oidc_client_id="$OIDC_CLIENT_ID" \
  oidc_client_secret=@/oidc/client-secret \
  default_role=vault-users
for f in /config/policy-*.hcl; do
  name=$(basename "$f" .hcl)
  vault policy write "$(echo "$name" | sed 's/^policy-//')" "$f"
done
for f in /config/role-*.json; do
  name=$(basename "$f" .json)
  vault write "auth/oidc/role/$(echo "$name" | sed 's/^role-//')" "@$f"
done
echo "oidc auth method configured"
