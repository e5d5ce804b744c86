#!/usr/bin/env bash
# Installs Debian's Trove control-plane code (python3-trove, python3-oslo.messaging)
# when /usr/bin/python3 cannot import it: test/integration/trove-interop.test.ts
# drives the agent with it. Idempotent; needs root for apt-get.
set -euo pipefail
if /usr/bin/python3 -c 'import trove.guestagent.api, oslo_messaging' >/dev/null 2>&1; then
  exit 0
fi
echo "trove-packages: installing python3-trove and python3-oslo.messaging (Debian) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-trove python3-oslo.messaging >/dev/null
/usr/bin/python3 -c 'import trove.guestagent.api, oslo_messaging'
