#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's Chromium for the
# browser tests. PostgreSQL server binaries (initdb, pg_ctl) are expected on
# PATH, in /usr/local/bin or /usr/lib/postgresql/*/bin; when missing and we
# are root, Debian's postgresql package (with btree_gist in contrib) is installed.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
if ! command -v initdb >/dev/null 2>&1 && [ ! -x /usr/local/bin/initdb ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "note: missing system packages: ${need[*]} (run as root, or install them, for the full suite)" >&2
  exit 0
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
