#!/usr/bin/env bash
# grpcwire proxy between the real peers (grpc-go, grpcio, grpc-js; tests/peers): every peer's
# client, all at once (concurrent connections), through the proxy to every peer's server, with
# every scenario. Each client must still print what it expects (exit 0); the proxy's pcap must
# decode to exactly the calls the clients made (method and status), the live decode must list
# the same calls, and tshark must agree with grpcwire on the pcap (tests/oracle/tshark_compare.py).
# Also IPv6, an IPv4 listener in front of an IPv6 upstream, an upstream that refuses, and one
# that resets mid-connection: the proxy closes the other side and records the RST.
# No privileges needed. Exit 0 pass, 1 fail, 77 skip (no peer toolchain at all).
# Env: GW_BIN (default build/grpcwire), GW_PEERS="go py node" to limit the peers.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../peers/peers.sh
. "$root/tests/peers/peers.sh"

gw=${GW_BIN:-$root/build/grpcwire}
[ -x "$gw" ] || { echo "FAIL: grpcwire binary not found at $gw (set GW_BIN)"; exit 1; }
export TZ=UTC LC_ALL=C NO_COLOR=1

tmp=$(mktemp -d /tmp/proxy-test.XXXXXX)
SERVER_PID= PROXY_PID=
cleanup() { stop_pid "$SERVER_PID" 2; stop_pid "$PROXY_PID" 2; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

peers=()
for p in ${GW_PEERS:-$PEERS_ALL}; do
  rc=0
  timeout 600 "$root/tests/peers/build.sh" "$p" >"$tmp/build-$p.log" 2>&1 || rc=$?
  case $rc in
    0) peers+=("$p") ;;
    77) echo "skip $p: $(grep -o 'SKIP: .*' "$tmp/build-$p.log" | head -n1)" ;;
    *) bad "$p peer build"; sed 's/^/  | /' "$tmp/build-$p.log" | tail -n 20 ;;
  esac
done

# start_proxy LISTEN TO PCAP [view args]: sets PROXY_PID and PROXY_ADDR; live output in $PCAP.live.
start_proxy() {
  local listen=$1 to=$2 pcap=$3 i
  shift 3
  "$gw" proxy --listen "$listen" --to "$to" -w "$pcap" "$@" >"$pcap.live" 2>"$pcap.log" &
  PROXY_PID=$!
  for ((i = 0; i < 100; i++)); do
    PROXY_ADDR=$(sed -n 's/^grpcwire: proxy listening at \([^,]*\),.*/\1/p' "$pcap.log")
    [ -n "$PROXY_ADDR" ] && return 0
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "proxy did not start:"; sed 's/^/  | /' "$pcap.log"
  return 1
}

stop_proxy() { # SIGTERM: the proxy flushes the pcap, prints its summary and exits 0
  local rc=0
  kill -TERM "$PROXY_PID" 2>/dev/null
  wait "$PROXY_PID" || rc=$?
  PROXY_PID=
  return $rc
}

# calls_of PCAP: "method status" per call, sorted (status: grpc-status, else what it implies).
calls_of() {
  python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    if c.get("type", "call") == "call" and "method" in c:
        print(c["method"], c.get("grpc_status_name") or c.get("implied_status_name") or "-")'
}

# compare_calls NAME PCAP CLIENT_OUTPUTS...: the clients' "call METHOD status=CODE" lines against
# the pcap's calls. A client's DEADLINE_EXCEEDED is decided by the client: on the wire it is the
# server's grpc-status DEADLINE_EXCEEDED or the client's RST_STREAM(CANCEL), i.e. CANCELLED.
compare_calls() {
  local name=$1 pcap=$2
  shift 2
  "$gw" read --json "$pcap" | calls_of | sort >"$tmp/wire"
  cat "$@" | sed -n 's/^call \([^ ]*\) status=\([A-Z_]*\).*/\1 \2/p' | sort >"$tmp/want"
  if python3 - "$tmp/want" "$tmp/wire" <<'EOF'
import sys, collections
want = collections.Counter(open(sys.argv[1]).read().split("\n")) - collections.Counter([""])
wire = collections.Counter(open(sys.argv[2]).read().split("\n")) - collections.Counter([""])
common = want & wire
want -= common; wire -= common
for k, n in list(want.items()):
    m, st = k.rsplit(" ", 1)
    if st == "DEADLINE_EXCEEDED":
        for alt in (k, m + " CANCELLED"):
            take = min(n, wire.get(alt, 0))
            wire[alt] -= take; want[k] -= take; n -= take
want = +want; wire = +wire
if want or wire:
    print("  clients made but not on the wire:", dict(want))
    print("  on the wire but not made:", dict(wire))
    sys.exit(1)
EOF
  then ok "$name: the pcap decodes to the $(wc -l <"$tmp/want") calls the clients made"
  else bad "$name: the pcap's calls differ from the clients'"; fi
  # The live decode (the proxy's call log) lists the same calls as reading the pcap back.
  if [ "$(grep -c ' → ' "$pcap.live")" -eq "$(wc -l <"$tmp/wire")" ]; then
    ok "$name: the live call log has the same $(wc -l <"$tmp/wire") calls"
  else bad "$name: live call log has $(grep -c ' → ' "$pcap.live") calls, the pcap $(wc -l <"$tmp/wire")"; fi
}

tshark_check() { # NAME PCAP PORT
  command -v tshark >/dev/null || { echo "skip $1: tshark missing"; return; }
  if python3 "$root/tests/oracle/tshark_compare.py" --gw "$gw" --pcap "$2" --port "$3"; then
    ok "$1: tshark agrees"
  else bad "$1: tshark disagrees"; fi
}

scen="greeter unary server_stream client_stream bidi large gzip error_details unimplemented deadline concurrent cancel"

# ---- every server, all clients at once through one proxy
for s in "${peers[@]}"; do
  sp=$(free_port 127.0.0.1)
  start_server "$s" 127.0.0.1 "$sp" "$tmp/server-$s.log" || { bad "$s server start"; continue; }
  pcap=$tmp/via-$s.pcap
  start_proxy 127.0.0.1:0 "127.0.0.1:$sp" "$pcap" || { bad "$s proxy start"; stop_pid "$SERVER_PID"; SERVER_PID=; continue; }
  pids=() outs=()
  for c in "${peers[@]}"; do
    peer_client_cmd "$c" "$PROXY_ADDR"
    # shellcheck disable=SC2086
    timeout 120 "${CLIENT_CMD[@]}" $scen >"$tmp/client-$c-$s.out" 2>&1 &
    pids+=($!) outs+=("$tmp/client-$c-$s.out")
  done
  for i in "${!pids[@]}"; do
    c=${peers[$i]}
    if wait "${pids[$i]}"; then ok "$c client -> proxy -> $s server: every call as expected"
    else bad "$c client -> proxy -> $s server"; sed 's/^/  | /' "${outs[$i]}" | tail -n 15; fi
  done
  sleep 0.3 # the last FINs
  stop_proxy || bad "proxy in front of $s did not exit 0"
  stop_pid "$SERVER_PID"; SERVER_PID=
  n=$(grep -c ' open$' "$pcap.log")
  [ "$n" -ge "${#peers[@]}" ] && ok "$s: $n connections relayed" || bad "$s: $n connections relayed"
  compare_calls "via $s" "$pcap" "${outs[@]}"
  tshark_check "via $s" "$pcap" "$sp"
done

# ---- IPv6 all the way, and an IPv4 listener in front of an IPv6 upstream
if [ ${#peers[@]} -gt 0 ] && python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
  s=${peers[0]}
  sp=$(free_port ::1)
  if start_server "$s" ::1 "$sp" "$tmp/server6.log"; then
    for mode in v6 v4-to-v6; do
      pcap=$tmp/$mode.pcap
      [ $mode = v6 ] && l='[::1]:0' || l=127.0.0.1:0
      start_proxy "$l" "[::1]:$sp" "$pcap" || { bad "$mode proxy start"; continue; }
      peer_client_cmd "$s" "$PROXY_ADDR"
      if timeout 60 "${CLIENT_CMD[@]}" greeter unary bidi gzip >"$tmp/$mode.out" 2>&1; then
        ok "$mode: $s client through the proxy"
      else bad "$mode: $s client through the proxy"; sed 's/^/  | /' "$tmp/$mode.out"; fi
      sleep 0.2
      stop_proxy || bad "$mode proxy exit"
      compare_calls "$mode" "$pcap" "$tmp/$mode.out"
      # Families differ: the capture shows the relay's own address as the server's.
      [ $mode = v6 ] && tp=$sp || tp=${PROXY_ADDR##*:}
      tshark_check "$mode" "$pcap" "$tp"
      want=$([ $mode = v6 ] && echo ipv6 || echo ip)
      if command -v tshark >/dev/null; then
        if tshark -r "$pcap" -T fields -e frame.protocols 2>/dev/null | head -n1 | grep -q ":$want:tcp"; then
          ok "$mode: packets are $want"
        else bad "$mode: packets are not $want"; fi
      fi
    done
    stop_pid "$SERVER_PID"; SERVER_PID=
  else
    bad "IPv6 server start"
  fi
else
  echo "skip IPv6: no ::1 here"
fi

# ---- a broken side: the upstream refuses, or resets mid-connection
refused=$(free_port 127.0.0.1)
start_proxy 127.0.0.1:0 "127.0.0.1:$refused" "$tmp/refused.pcap" && {
  if python3 - "$PROXY_ADDR" <<'EOF'
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
try:
    s = socket.create_connection((h, int(p)), timeout=5)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    d = s.recv(10)
    sys.exit(0 if d == b"" else 1)
except (ConnectionResetError, BrokenPipeError):
    sys.exit(0)
except socket.timeout:
    sys.exit(1)
EOF
  then ok "upstream refused: the client's connection is closed at once"
  else bad "upstream refused: the client's connection stayed open"; fi
  kill -0 "$PROXY_PID" 2>/dev/null && ok "upstream refused: the proxy keeps running" || bad "upstream refused: the proxy died"
  stop_proxy || bad "refused: proxy exit"
  grep -q 'upstream Connection refused' "$tmp/refused.pcap.log" && ok "upstream refused: logged" || { bad "upstream refused: not logged"; cat "$tmp/refused.pcap.log"; }
  if command -v tshark >/dev/null; then
    f=$(tshark -r "$tmp/refused.pcap" -T fields -e tcp.flags.str 2>/dev/null | tr -d '\n')
    case "$f" in *S*R*) ok "upstream refused: recorded as SYN then RST" ;; *) bad "upstream refused: recorded as '$f'" ;; esac
  fi
}

# An upstream that accepts, reads the request, then resets (SO_LINGER 0).
up=$(free_port 127.0.0.1)
python3 - "$up" >"$tmp/rst-server.log" 2>&1 <<'EOF' &
import socket, struct, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(1); print("ready", flush=True)
c, _ = l.accept(); c.recv(100)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
EOF
rst_pid=$!
for ((i = 0; i < 50; i++)); do grep -q ready "$tmp/rst-server.log" && break; sleep 0.1; done
start_proxy 127.0.0.1:0 "127.0.0.1:$up" "$tmp/reset.pcap" && {
  if python3 - "$PROXY_ADDR" <<'EOF'
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=5)
try:
    s.sendall(b"hello")
    sys.exit(0 if s.recv(10) == b"" else 1)
except ConnectionResetError:
    sys.exit(0)
except socket.timeout:
    sys.exit(1)
EOF
  then ok "upstream reset: the client's side is closed"
  else bad "upstream reset: the client's side stayed open"; fi
  stop_proxy || bad "reset: proxy exit"
  grep -q 'upstream: Connection reset' "$tmp/reset.pcap.log" && ok "upstream reset: logged" || { bad "upstream reset: not logged"; cat "$tmp/reset.pcap.log"; }
  if command -v tshark >/dev/null; then
    n=$(tshark -r "$tmp/reset.pcap" -Y "tcp.flags.reset==1 && tcp.srcport==$up" 2>/dev/null | wc -l)
    [ "$n" -eq 1 ] && ok "upstream reset: one RST from the server recorded" || bad "upstream reset: $n RSTs from the server"
    d=$(tshark -r "$tmp/reset.pcap" -Y 'tcp.len==5' 2>/dev/null | wc -l)
    [ "$d" -eq 1 ] && ok "upstream reset: the 5 bytes relayed are recorded" || bad "upstream reset: data packets: $d"
  fi
}
stop_pid "$rst_pid" 1

if [ ${#peers[@]} -eq 0 ]; then
  echo "$pass passed, $fail failed (no peer toolchain: the peer part was skipped)"
  [ "$fail" -eq 0 ] || exit 1
  exit 77
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
