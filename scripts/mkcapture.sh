#!/usr/bin/env bash
# Make a real gRPC capture: start tcpdump on loopback, run a peer server and client through named
# scenarios, stop both by PID, convert and verify the file with tshark.
#
# usage: scripts/mkcapture.sh OUT [--peer go|py|node] [--server-peer go|py|node]
#          [--pair CLIENT:SERVER]... [--scenario NAME]... [--iface lo|any]
#          [--linktype EN10MB|LINUX_SLL|LINUX_SLL2] [--format pcap|pcapng] [--nano] [--ipv6]
#          [--port N]
#   --peer/--server-peer  client and server stacks (default go, server defaults to --peer)
#   --pair C:S            run several client/server pairs into one capture, in order (each
#                         server gets its own port); overrides --peer/--server-peer
#   --scenario NAME       repeatable, run in order (default: greeter); names as the peer clients
#                         take them, plus http415 (a text/plain POST by nghttp)
#   --port N              preferred port for the first server (taken only if free)
#   --linktype            tcpdump -y; lo offers EN10MB only, any offers LINUX_SLL and LINUX_SLL2
#   --nano                nanosecond timestamps (tcpdump --time-stamp-precision=nano)
# Exit: 0 capture written and verified, 1 failure, 2 usage, 77 cannot capture here (not root,
#       tcpdump/tshark missing, a peer toolchain missing).
set -euo pipefail

usage() { sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "mkcapture: $*" >&2; exit 1; }
skip() { echo "mkcapture: SKIP: $*" >&2; exit 77; }

[ $# -ge 1 ] || usage
out=$1; shift
case "$out" in -*) usage ;; esac
peer=go server_peer='' iface=lo linktype='' format=pcap nano=0 ipv6=0 port_pref=0
pairs=() scenarios=()
while [ $# -gt 0 ]; do
  case "$1" in
    --peer) peer=${2:?}; shift 2 ;;
    --server-peer) server_peer=${2:?}; shift 2 ;;
    --pair) pairs+=("${2:?}"); shift 2 ;;
    --scenario) scenarios+=("${2:?}"); shift 2 ;;
    --iface) iface=${2:?}; shift 2 ;;
    --linktype) linktype=${2:?}; shift 2 ;;
    --format) format=${2:?}; shift 2 ;;
    --nano) nano=1; shift ;;
    --ipv6) ipv6=1; shift ;;
    --port) port_pref=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "mkcapture: unknown option $1" >&2; usage ;;
  esac
done
case "$iface" in lo|any) ;; *) die "--iface must be lo or any" ;; esac
case "$format" in pcap|pcapng) ;; *) die "--format must be pcap or pcapng" ;; esac
case "$linktype" in ''|EN10MB|LINUX_SLL|LINUX_SLL2) ;; *) die "--linktype must be EN10MB, LINUX_SLL or LINUX_SLL2" ;; esac
[ ${#scenarios[@]} -gt 0 ] || scenarios=(greeter)
[ ${#pairs[@]} -gt 0 ] || pairs=("$peer:${server_peer:-$peer}")

[ "$(id -u)" -eq 0 ] || skip "capturing needs root (tcpdump on $iface)"
for t in tcpdump tshark editcap; do
  command -v "$t" >/dev/null || skip "$t not found (scripts/deps.sh test)"
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/peers/peers.sh
. "$root/tests/peers/peers.sh"

need=()
for p in "${pairs[@]}"; do
  c=${p%%:*} s=${p#*:}
  for x in "$c" "$s"; do
    case " $PEERS_ALL " in *" $x "*) ;; *) die "unknown peer '$x' in pair $p" ;; esac
    case " ${need[*]-} " in *" $x "*) ;; *) need+=("$x") ;; esac
  done
done
for sc in "${scenarios[@]}"; do
  case " $PEERS_SCENARIOS " in *" $sc "*) ;; *) die "unknown scenario '$sc' (one of: $PEERS_SCENARIOS)" ;; esac
done
rc=0
"$root/tests/peers/build.sh" "${need[@]}" >&2 || rc=$?
[ $rc -eq 0 ] || { [ $rc -eq 77 ] && exit 77; die "building peers failed"; }

host=127.0.0.1
[ $ipv6 -eq 1 ] && host=::1

tmp=$(mktemp -d /tmp/mkcapture.XXXXXX)
tcpdump_pid='' SERVER_PID=''
cleanup() {
  stop_pid "$SERVER_PID" 2
  if [ -n "$tcpdump_pid" ]; then
    kill -INT "$tcpdump_pid" 2>/dev/null || true
    wait "$tcpdump_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One port per pair, chosen before tcpdump starts so the filter can name them all.
ports=() filter=
for i in "${!pairs[@]}"; do
  pref=0
  [ "$i" -eq 0 ] && pref=$port_pref
  p=$(free_port "$host" "$pref")
  while case " ${ports[*]-} " in *" $p "*) true ;; *) false ;; esac; do p=$(free_port "$host"); done
  [ -n "$p" ] || die "no free port on $host"
  ports+=("$p")
  filter="${filter:+$filter or }tcp port $p"
done

# A large kernel buffer: 1 MB messages over lo come as 64 KiB segments faster than a small
# buffer drains, and a dropped packet would be a gap in every test that uses the capture.
td=(tcpdump -i "$iface" -n -s 0 -B 131072 -U --immediate-mode -Z root -w "$tmp/cap.pcap")
[ -n "$linktype" ] && td+=(-y "$linktype")
[ $nano -eq 1 ] && td+=(--time-stamp-precision=nano)
"${td[@]}" "$filter" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
for ((i = 0; i < 100; i++)); do
  grep -q 'listening on' "$tmp/tcpdump.log" && break
  kill -0 "$tcpdump_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'listening on' "$tmp/tcpdump.log"; then
  cat "$tmp/tcpdump.log" >&2
  tcpdump_pid=
  if grep -qiE 'permission|not permitted|socket: |no such device|don.t have' "$tmp/tcpdump.log"; then
    skip "tcpdump cannot capture on $iface"
  fi
  die "tcpdump did not start: ${td[*]} '$filter'"
fi
echo "mkcapture: $(grep 'listening on' "$tmp/tcpdump.log")" >&2
# libpcap is listening, but give the kernel socket a moment before the first SYN.
sleep 0.3

# run_group PAIR_CLIENT ADDR SCENARIO...: one client process for consecutive client scenarios.
run_group() {
  local c=$1 addr=$2; shift 2
  [ $# -gt 0 ] || return 0
  peer_client_cmd "$c" "$addr"
  timeout 120 "${CLIENT_CMD[@]}" "$@"
}

status=0
for i in "${!pairs[@]}"; do
  c=${pairs[$i]%%:*} s=${pairs[$i]#*:} port=${ports[$i]}
  addr=$(peer_addr "$host" "$port")
  echo "mkcapture: $c client -> $s server at $addr: ${scenarios[*]}" >&2
  start_server "$s" "$host" "$port" "$tmp/server-$i.log" || die "cannot start $s server"
  group=()
  for sc in "${scenarios[@]}"; do
    if [ "$sc" = http415 ]; then
      run_group "$c" "$addr" "${group[@]+"${group[@]}"}" || status=1
      group=()
      run_http415 "$host" "$port" || status=1
    else
      group+=("$sc")
    fi
  done
  run_group "$c" "$addr" "${group[@]+"${group[@]}"}" || status=1
  stop_pid "$SERVER_PID" 3
  SERVER_PID=
done

# Let the last FIN/ACKs reach libpcap, then stop tcpdump with SIGINT so it flushes and closes.
sleep 0.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=
grep -E 'packets (captured|received|dropped)' "$tmp/tcpdump.log" | sed 's/^/mkcapture: tcpdump: /' >&2 || true
[ $status -eq 0 ] || die "a client scenario failed; capture not written"

mkdir -p "$(dirname "$out")"
if [ "$format" = pcapng ]; then
  editcap -F pcapng "$tmp/cap.pcap" "$tmp/cap.out"
else
  cp "$tmp/cap.pcap" "$tmp/cap.out"
fi
decode=()
for p in "${ports[@]}"; do decode+=(-d "tcp.port==$p,http2"); done
npk=$(tshark -r "$tmp/cap.out" -T fields -e frame.number 2>/dev/null | wc -l)
[ "$npk" -gt 0 ] || die "tshark sees no packets in the capture"
ngrpc=$(tshark -r "$tmp/cap.out" "${decode[@]}" -Y grpc -T fields -e frame.number 2>/dev/null | wc -l)
mv "$tmp/cap.out" "$out"
echo "mkcapture: wrote $out: $npk packets, $ngrpc with gRPC messages, ports ${ports[*]}, $(tshark -r "$out" -T fields -e frame.encap_type -c 1 2>/dev/null | head -n1 | sed 's/^/encap /')" >&2
