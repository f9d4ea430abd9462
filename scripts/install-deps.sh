#!/usr/bin/env bash
# Installs everything Tern needs to build, run and test on Debian 12.
# Idempotent: packages already installed are skipped; apt-get runs only when something is missing.
# Used by `make run`, `make test` and CI (.ci/run calls `make test`).
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libssl-dev libsqlite3-dev libpq-dev libunbound-dev libsodium-dev
  nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 clang-format-14 libclang-rt-14-dev
)
# Real peers used by the integration tests and benchmarks.
TEST_PKGS=(
  swaks libnet-ssleay-perl libio-socket-ssl-perl curl openssl python3 python3-dkim python3-dnspython python3-aiosmtpd
  postfix nsd unbound opendkim opendkim-tools strace procps psmisc postgresql
  testssl.sh python3-jsonschema
)

# The web console's browser suite (console/test): Debian's Chromium and a font for stable
# screenshots.
CONSOLE_TEST_PKGS=(
  chromium fonts-dejavu-core
)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then want+=("${TEST_PKGS[@]}" "${CONSOLE_TEST_PKGS[@]}"); fi
# Node.js and npm build the web console (console/, also for `make build`) and run the OpenAPI
# lint (tests/openapi: @redocly/cli). Only when missing: a Node.js from another source
# (nodesource's nodejs ships its own npm) is kept as it is.
if ! command -v node >/dev/null 2>&1; then
  want+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
# Postfix asks questions at install time; answer them so nothing is configured or started.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
# Packaged daemons (postfix, nsd, unbound, opendkim, postgresql) must not start: Tern's tests start their
# own on free ports. A policy-rc.d that exits 101 ("action forbidden") keeps invoke-rc.d and
# deb-systemd-invoke from starting anything for the duration of the install. It is ours only if
# there was none: an existing one is the machine's policy and is left alone. Nothing already
# running is stopped: services of the user's are none of our business.
POLICY_RC_D=${TERN_POLICY_RC_D:-/usr/sbin/policy-rc.d}
created_policy=0
remove_policy() {
  if [ "$created_policy" = 1 ]; then $SUDO rm -f "$POLICY_RC_D"; fi
}
trap remove_policy EXIT
trap "exit 130" INT TERM  # so that EXIT runs on an interrupt too
if [ ! -e "$POLICY_RC_D" ]; then
  printf '#!/bin/sh\n# Written by tern scripts/install-deps.sh for the duration of an install.\nexit 101\n' |
    $SUDO tee "$POLICY_RC_D" >/dev/null
  created_policy=1
  $SUDO chmod 755 "$POLICY_RC_D"
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
remove_policy
created_policy=0
# Daemons installed just now would still start at the next boot: disable those (only those).
for svc in unbound nsd postfix opendkim postgresql; do
  case " ${missing[*]} " in
    *" $svc "*)
      (command -v systemctl >/dev/null && $SUDO systemctl disable "$svc" >/dev/null 2>&1) || true ;;
  esac
done
echo "install-deps: done"
