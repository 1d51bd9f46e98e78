#!/usr/bin/env bash
# make bench: dissection speed and memory of every view, side by side with tshark and with the
# libpcap-only read, on a capture made by bench/gencap (deterministic: seed and size).
#   BENCH_MB=512 (capture size), BENCH_TSHARK_MB=32 (tshark runs on a slice this big), BENCH_SEED=1
# Prints MB/s, packets/s, calls/s and peak RSS; ratios against tshark use the same slice.
# A second section does the same on the other shape, `gencap -p small`: many small unary calls
# framed as grpc-go and grpcio frame them (about 250 bytes per call, 225 per packet, like
# bench/record.sh RECORD_LOAD=peers). BENCH_SMALL_MB=256 (0 skips it), BENCH_SMALL_TSHARK_MB=16.
# A third, `gencap -p mixed`, interleaves both shapes at the 381 bytes a packet of the issue's
# capture. BENCH_MIXED_MB=512 (0 skips it), BENCH_MIXED_TSHARK_MB=16.
set -euo pipefail
build=${1:-build-release}
cd "$(dirname "$0")/.."
gw=$build/grpcwire
mb=${BENCH_MB:-512}; tmb=${BENCH_TSHARK_MB:-32}; seed=${BENCH_SEED:-1}
dir=${BENCH_DIR:-$build/bench}; mkdir -p "$dir"
cap=$dir/gen-s$seed-$mb.pcap; slice=$dir/gen-s$seed-$tmb.pcap
[ -f "$cap" ] || "$build/gw-gencap" -s "$seed" -n $((mb << 20)) -o "$cap"
[ -f "$slice" ] || "$build/gw-gencap" -s "$seed" -n $((tmb << 20)) -o "$slice"

# measure NAME FILE CMD...: wall seconds (the best of BENCH_RUNS, default 3: the machine is a VM
# whose speed wanders between runs) and peak RSS (KiB, the largest) of CMD, output discarded.
# "stolen" is the CPU time the host took from this VM during the best run (/proc/stat steal):
# a second thread counts for little while it is high.
runs=${BENCH_RUNS:-3}
steal() { awk '/^cpu /{print $9; exit}' /proc/stat 2>/dev/null || echo 0; }
measure() {
  local name=$1 file=$2; shift 2
  local t0 t1 s0 s1 rss best="" stolen=0 maxrss=0
  for _ in $(seq "$runs"); do
    # Read the file into the page cache first: this VM keeps only about 2 GB of it whatever
    # memory is free, so the files of the other rows push parts of this one out, and a run
    # would otherwise time the disk (fincore showed 217 of 256 MB cached between rows).
    cat "$file" >/dev/null
    s0=$(steal); t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$dir/time.out" "$@" >/dev/null 2>/dev/null || true
    t1=$(date +%s.%N); s1=$(steal)
    rss=$(tail -1 "$dir/time.out")
    [ "$rss" -gt "$maxrss" ] && maxrss=$rss
    read -r best stolen < <(python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); b=sys.argv[3]
print(*((d, sys.argv[4]) if not b or d < float(b) else (b, sys.argv[5])))" "$t0" "$t1" "$best" "$((s1 - s0))" "$stolen")
  done
  local bytes; bytes=$(stat -c %s "$file")
  python3 - "$name" "$file" "$best" "$maxrss" "$bytes" "$pkts" "$calls" "$stolen" <<'PY'
import sys, os
name, f, best, rss, size, pkts, calls, stolen = sys.argv[1:]
s = float(best)
mb = int(size) / 1e6
hz = os.sysconf("SC_CLK_TCK")
print(f"{name:34s} {mb/s:9.1f} MB/s {int(pkts)/s/1e6:7.2f} Mpkt/s {int(calls)/s/1e3:8.1f} kcall/s "
      f"{int(rss)/1024:7.1f} MiB  {s:7.2f} s  stolen {int(stolen)/hz:5.2f} s  ({f.rsplit('/',1)[-1]})")
open(f.rsplit('/', 1)[0] + "/last.mbs", "w").write(f"{mb/s:.1f}\n")
PY
}
# mbs KEY NAME FILE CMD...: measure, and keep the MB/s in MBS[KEY] for the ratios at the end
declare -A MBS
mbs() { local key=$1; shift; measure "$@"; MBS[$key]=$(cat "$dir/last.mbs"); }
[ -x /usr/bin/time ] || { echo "bench needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }
count() { "$gw" read --stats --json "$1" | python3 -c 'import json,sys
for l in sys.stdin:
    o=json.loads(l)
    if o["type"]=="capture_stats": print(o["packets"], o["calls"])'; }
# views: every view on $cap, beside cat and libpcap's own read
views() {
  measure "cat" "$cap" cat "$cap"
  mbs libpcap "libpcap read (tcpdump -r -w)" "$cap" tcpdump -r "$cap" -w /dev/null
  mbs calls "grpcwire read (call log)" "$cap" "$gw" read "$cap"
  mbs json "grpcwire read --json" "$cap" "$gw" read --json "$cap"
  mbs messages "grpcwire read --json=messages" "$cap" "$gw" read --json=messages "$cap"
  mbs stats "grpcwire read --stats" "$cap" "$gw" read --stats "$cap"
  measure "grpcwire read --frames" "$cap" "$gw" read --frames "$cap"
  # one thread: what the second core adds to each of the views above
  measure "  call log, --threads 1" "$cap" "$gw" read --threads 1 "$cap"
  measure "  --json, --threads 1" "$cap" "$gw" read --json --threads 1 "$cap"
  measure "  --json=messages, --threads 1" "$cap" "$gw" read --json=messages --threads 1 "$cap"
  measure "  --stats, --threads 1" "$cap" "$gw" read --stats --threads 1 "$cap"
}
# on_slice: tshark, and our views for comparison, on $slice (tshark would take minutes on $cap)
on_slice() {
  if command -v tshark >/dev/null; then
    measure "tshark full dissection" "$slice" tshark -r "$slice" -d tcp.port==50051,http2 -V
    mbs tshark "tshark -Y grpc -e grpc.message_length" "$slice" tshark -r "$slice" -d tcp.port==50051,http2 -Y grpc -T fields -e grpc.message_length
  fi
  measure "grpcwire read (call log), slice" "$slice" "$gw" read "$slice"
  measure "grpcwire read --json, slice" "$slice" "$gw" read --json "$slice"
  measure "grpcwire read -V, slice" "$slice" "$gw" read -V "$slice"
}
read -r pkts calls < <(count "$cap")
echo "capture: $cap ($(($(stat -c %s "$cap") >> 20)) MiB, $pkts packets, $calls calls)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo
views
echo
read -r pkts calls < <(count "$slice")
echo "slice for tshark: $slice ($(($(stat -c %s "$slice") >> 20)) MiB, $pkts packets, $calls calls)"
on_slice
# ratios CALLS JSON MESSAGES STATS LIBPCAP TSHARK: the MB/s ratios against tshark and libpcap
ratios() {
python3 - "$@" <<'PY'
import sys
calls, json, msgs, stats, libpcap, tshark = map(float, sys.argv[1:])
if tshark:
    print(f"vs tshark's gRPC field extraction ({tshark:.1f} MB/s): call log {calls/tshark:.0f}x, "
          f"--json {json/tshark:.0f}x, --json=messages {msgs/tshark:.0f}x (goal 100x)")
print(f"--stats vs libpcap's read: {stats/libpcap:.2f} (goal >= 0.5)")
PY
}
echo
ratios "${MBS[calls]}" "${MBS[json]}" "${MBS[messages]}" "${MBS[stats]}" "${MBS[libpcap]}" "${MBS[tshark]:-0}"

# The other shapes: many small unary calls (gencap -p small), and both mixed in the proportions of
# the issue's capture (gencap -p mixed); the same views and comparisons.
# shape_section PROFILE MB TMB TITLE
shape_section() {
  local profile=$1 smb=$2 stmb=$3 title=$4
  [ "$smb" -gt 0 ] || return 0
  cap=$dir/$profile-s$seed-$smb.pcap; slice=$dir/$profile-s$seed-$stmb.pcap
  [ -f "$cap" ] || "$build/gw-gencap" -p "$profile" -s "$seed" -n $((smb << 20)) -o "$cap"
  [ -f "$slice" ] || "$build/gw-gencap" -p "$profile" -s "$seed" -n $((stmb << 20)) -o "$slice"
  MBS=()
  echo
  echo "== $title =="
  read -r pkts calls < <(count "$cap")
  echo "capture: $cap ($(shape "$cap"))"
  echo
  views
  echo
  read -r pkts calls < <(count "$slice")
  echo "$profile slice for tshark: $slice ($(shape "$slice"))"
  on_slice
  echo
  echo "$profile:"
  ratios "${MBS[calls]}" "${MBS[json]}" "${MBS[messages]}" "${MBS[stats]}" "${MBS[libpcap]}" "${MBS[tshark]:-0}"
}
shape() { local b; b=$(stat -c %s "$1"); echo "$(($b >> 20)) MiB, $pkts packets, $calls calls, $((b / pkts)) B/packet, $((b / calls)) B/call"; }
shape_section small "${BENCH_SMALL_MB:-256}" "${BENCH_SMALL_TSHARK_MB:-16}" \
  "small unary calls: gencap -p small (grpc-go/grpcio framing, tens to hundreds of bytes per message)"
shape_section mixed "${BENCH_MIXED_MB:-512}" "${BENCH_MIXED_TSHARK_MB:-16}" \
  "mixed: gencap -p mixed (both shapes, 381 B/packet like the issue's 515 MB, 1.35 M packet capture)"
