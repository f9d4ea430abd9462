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
  clang-14 libclang-rt-14-dev
)
# Real peers used by the integration tests and benchmarks.
TEST_PKGS=(
  swaks libnet-ssleay-perl libio-socket-ssl-perl curl openssl python3 python3-dkim python3-dnspython python3-aiosmtpd
  postfix nsd unbound opendkim opendkim-tools strace procps psmisc
)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then want+=("${TEST_PKGS[@]}"); fi

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
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's packaged daemons may be started by their postinst; Tern's tests start their own.
for svc in unbound nsd postfix opendkim; do
  (command -v systemctl >/dev/null && $SUDO systemctl disable --now "$svc" >/dev/null 2>&1) || true
  $SUDO pkill -x "$svc" >/dev/null 2>&1 || true
done
echo "install-deps: done"
