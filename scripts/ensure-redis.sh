#!/bin/sh
# grantsweep needs a redis-server binary for its embedded default (and for the tests).
# Installs Debian's/Ubuntu's package when it is missing and we may; otherwise says how.
command -v redis-server >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "grantsweep: installing redis-server (Debian package)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null && exit 0
fi
echo "grantsweep: redis-server is not installed. Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL." >&2
exit 1
