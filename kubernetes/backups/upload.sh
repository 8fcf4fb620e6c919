#!/bin/sh
# The upload step both backup jobs share: encrypt with rclone crypt (passphrase: .env BACKUP_PASSPHRASE, sealed into
# Secret backup-target) and write to the S3 target as <prefix>/<kind>/<kind>-<UTC time>.<ext>.bin. File names stay
# readable so listing and dating the backups needs no passphrase; restoring does (README, "Backups").
# usage: upload.sh FILE KIND EXT
set -eu
file="$1"; kind="$2"; ext="$3"
test -s "$file" || { echo "backup: $file is missing or empty" >&2; exit 1; }
export RCLONE_CONFIG_TARGET_TYPE=s3 RCLONE_CONFIG_TARGET_PROVIDER=Other RCLONE_CONFIG_TARGET_ENV_AUTH=false
export RCLONE_CONFIG_SEALED_TYPE=crypt RCLONE_CONFIG_SEALED_FILENAME_ENCRYPTION=off RCLONE_CONFIG_SEALED_DIRECTORY_NAME_ENCRYPTION=false
export RCLONE_CONFIG_SEALED_REMOTE="target:$BACKUP_S3_BUCKET/$BACKUP_PREFIX"
RCLONE_CONFIG_SEALED_PASSWORD="$(printf '%s' "$BACKUP_PASSPHRASE" | rclone obscure -)"
export RCLONE_CONFIG_SEALED_PASSWORD
name="$kind/$kind-$(date -u +%Y%m%dT%H%M%SZ).$ext"
rclone copyto --s3-no-check-bucket "$file" "sealed:$name"
echo "backup: uploaded $name ($(wc -c < "$file") bytes before encryption)"
