#!/usr/bin/env bash
# Install the Debian packages grpcwire needs, and only those missing. Idempotent.
# Usage: scripts/deps.sh build|test|fuzz
set -euo pipefail
tier=${1:-build}
build_pkgs="gcc make cmake pkg-config libpcap-dev libnghttp2-dev zlib1g-dev libzstd-dev"
test_pkgs="tcpdump tshark golang-go golang-google-grpc-dev python3-grpcio python3-protobuf
 protobuf-compiler protobuf-compiler-grpc nghttp2-client time clang libclang-rt-14-dev nodejs npm"
case "$tier" in
  build) want="$build_pkgs" ;;
  test|fuzz|bench) want="$build_pkgs $test_pkgs" ;;
  *) echo "usage: $0 build|test|fuzz|bench" >&2; exit 2 ;;
esac
missing=()
for p in $want; do
  # nodejs may come from elsewhere than Debian (a preinstalled node); accept that.
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "grpcwire: these Debian packages are missing: ${missing[*]}" >&2
  echo "grpcwire: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "grpcwire: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
