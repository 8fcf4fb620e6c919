# Members of the Authentik group vault-admins: everything (what the root token was used for at first configuration).
path "*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}
