#!/usr/bin/env python3
"""Cross-check grpcwire against tshark on one capture.

  tshark_compare.py --gw BIN --pcap FILE [--port P]... [--check conv,frames,headers,calls] [--mid]

conv     grpcwire --conversations --json  vs  tshark -q -z conv,tcp   (packets and bytes each way)
frames   grpcwire --frames --json          vs  tshark -T pdml -d tcp.port==P,http2: per packet,
         the list of (frame type, stream id)
headers  per packet, the decoded header lists (with --mid: tshark's must be contained in ours,
         since a capture begun mid-connection is where we may decode more)
calls    grpcwire --json                   vs  tshark's http2+grpc: per (tcp stream, http2 stream):
         method, :status, grpc-status, request and response message lengths

Exit 0 when everything checked agrees, 1 with a report of the differences otherwise."""
import argparse, json, subprocess, sys, re
import xml.etree.ElementTree as ET
from collections import defaultdict

def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode(errors='replace')}")
    return r.stdout

def gw(args, extra):
    out = run([args.gw, 'read'] + extra + sum((['--h2-port', str(p)] for p in args.port), []) + [args.pcap])
    return [json.loads(l) for l in out.decode().splitlines() if l.strip()]

def norm_ep(addr, port):
    addr = addr.strip('[]')
    return f"{addr}:{port}"

# ---- tshark side -------------------------------------------------------------------------
def tshark_pdml(args):
    cmd = ['tshark', '-r', args.pcap, '-T', 'pdml', '-o', 'tcp.desegment_tcp_streams:TRUE']
    for p in args.port:
        cmd += ['-d', f'tcp.port=={p},http2']
    out = run(cmd)
    packets = {}
    root = ET.fromstring(out)
    for pkt in root.iter('packet'):
        no = None; tcpstream = None; src = None; sport = None
        frames = []; grpc = []
        cur = None
        for proto in pkt.findall('proto'):
            name = proto.get('name')
            if name == 'frame':
                for f in proto.iter('field'):
                    if f.get('name') == 'frame.number':
                        no = int(f.get('show'))
            elif name in ('ip', 'ipv6'):
                for f in proto.iter('field'):
                    if f.get('name') in ('ip.src', 'ipv6.src'):
                        src = f.get('show')
            elif name == 'tcp':
                for f in proto.iter('field'):
                    if f.get('name') == 'tcp.stream':
                        tcpstream = int(f.get('show'))
                    elif f.get('name') == 'tcp.srcport':
                        sport = int(f.get('show'))
            elif name == 'http2':
                ftype = stream = None; names = []; values = []
                for f in proto.iter('field'):
                    n = f.get('name')
                    if n == 'http2.type' and ftype is None:
                        ftype = int(f.get('show'))
                    elif n == 'http2.streamid' and stream is None:
                        stream = int(f.get('show'))
                    elif n == 'http2.header.name':
                        names.append(bytes.fromhex(f.get('value') or '').decode('utf-8', 'replace'))
                    elif n == 'http2.header.value':
                        values.append(bytes.fromhex(f.get('value') or '').decode('utf-8', 'replace'))
                if ftype is None:
                    continue  # the connection preface (Magic)
                cur = {'type': ftype, 'stream': stream, 'headers': list(zip(names, values))}
                frames.append(cur)
            elif name == 'grpc':
                length = comp = None
                for f in proto.iter('field'):
                    if f.get('name') == 'grpc.message_length':
                        length = int(f.get('show'))
                    elif f.get('name') == 'grpc.compressed_flag':
                        comp = int(f.get('show'))
                if length is not None:
                    grpc.append({'stream': cur['stream'] if cur else None, 'length': length})
        packets[no] = {'conn': tcpstream, 'src': f"{src}:{sport}", 'frames': frames, 'grpc': grpc}
    return packets

def tshark_conv(args):
    out = run(['tshark', '-r', args.pcap, '-q', '-z', 'conv,tcp']).decode()
    convs = {}
    for line in out.splitlines():
        if '<->' not in line:
            continue
        a, rest = line.split('<->', 1)
        toks = rest.split()
        b = toks[0]
        nums = [int(t.replace(',', '')) for t in toks[1:] if re.fullmatch(r'[0-9,]+', t)]
        # <- frames, <- bytes, -> frames, -> bytes, total frames, total bytes
        b_to_a = (nums[0], nums[1]); a_to_b = (nums[2], nums[3])
        a = a.strip()
        convs[frozenset([a, b])] = {a: a_to_b, b: b_to_a}
    return convs

# ---- checks ------------------------------------------------------------------------------
def check_conv(args, errs):
    ours = {}
    for c in gw(args, ['--conversations', '--json']):
        a, b = c['a'], c['b']
        a = norm_ep(*a.rsplit(':', 1)); b = norm_ep(*b.rsplit(':', 1))
        ours[frozenset([a, b])] = {a: (c['a_to_b']['packets'], c['a_to_b']['bytes']),
                                   b: (c['b_to_a']['packets'], c['b_to_a']['bytes'])}
    theirs = tshark_conv(args)
    # tshark merges a reused address/port pair into one line only when it is one stream; sum ours
    if set(ours) != set(theirs):
        errs.append(f"conv: endpoints differ: ours-only {sorted(map(sorted, set(ours)-set(theirs)))} "
                    f"tshark-only {sorted(map(sorted, set(theirs)-set(ours)))}")
    for k in set(ours) & set(theirs):
        if ours[k] != theirs[k]:
            errs.append(f"conv {sorted(k)}: ours {ours[k]} tshark {theirs[k]}")
    return len(theirs)

def check_frames(args, errs, tpk, check_headers):
    n = 0
    ours = {p['no']: p for p in gw(args, ['--frames', '--json'])}
    for no, t in sorted(tpk.items()):
        o = ours.get(no, {'frames': []})
        tf = [(f['type'], f['stream']) for f in t['frames']]
        of = [(f['type_id'], f['stream']) for f in o['frames']]
        if args.mid:
            # mid-connection: tshark may not find frames we find; every frame it finds, we must too
            missing = [f for f in tf if f not in of]
            if missing:
                errs.append(f"frames: packet {no}: tshark has {missing} that we lack (ours {of})")
        elif tf != of:
            errs.append(f"frames: packet {no}: ours {of} tshark {tf}")
        n += len(tf)
        if not check_headers:
            continue
        th = [h for f in t['frames'] for h in f['headers']]
        oh = [(h['name'], h['value']) for f in o['frames'] for h in f.get('headers', [])]
        if args.mid:
            pool = list(oh)
            for h in th:
                if h[0] == '<unknown>' or h[1] == '<unknown>':
                    continue
                if h in pool:
                    pool.remove(h)
                else:
                    errs.append(f"headers: packet {no}: tshark decodes {h} and we do not")
        elif th != oh:
            errs.append(f"headers: packet {no}:\n  ours   {oh}\n  tshark {th}")
    return n

def check_calls(args, errs, tpk):
    calls = defaultdict(lambda: {'method': None, 'status': None, 'grpc_status': None, 'req': [], 'resp': []})
    client = {}
    for no, t in sorted(tpk.items()):
        for f in t['frames']:
            if f['type'] != 1:
                continue
            hd = dict(f['headers'])
            c = calls[(t['conn'], f['stream'])]
            if ':method' in hd:
                c['method'] = hd.get(':path'); client[t['conn']] = t['src']
            if ':status' in hd and c['status'] is None:
                c['status'] = int(hd[':status'])
            if 'grpc-status' in hd:
                c['grpc_status'] = int(hd['grpc-status'])
        for g in t['grpc']:
            c = calls[(t['conn'], g['stream'])]
            (c['req'] if client.get(t['conn']) == t['src'] else c['resp']).append(g['length'])
    ours = {}
    for c in gw(args, ['--json']):
        ours[(c['conn'], c['stream'])] = {
            'method': c['method'], 'status': c['http_status'], 'grpc_status': c['grpc_status'],
            'req': [m['length'] for m in c['requests']], 'resp': [m['length'] for m in c['responses']]}
    theirs = {k: v for k, v in calls.items() if v['method'] or v['req'] or v['resp'] or v['status']}
    for k in sorted(set(theirs) | set(ours), key=lambda k: (k[0] or 0, k[1] or 0)):
        t, o = theirs.get(k), ours.get(k)
        if t is None:
            if not args.mid:
                errs.append(f"calls {k}: we report a call tshark does not: {o}")
            continue
        if o is None:
            errs.append(f"calls {k}: tshark has a call we lack: {t}")
            continue
        if args.mid and t['method'] is None:
            t = dict(t, method=o['method'])
        if t != o:
            errs.append(f"calls {k}:\n  ours   {o}\n  tshark {t}")
    return len(theirs)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--gw', required=True)
    ap.add_argument('--pcap', required=True)
    ap.add_argument('--port', type=int, action='append', default=[])
    ap.add_argument('--check', default='conv,frames,headers,calls')
    ap.add_argument('--mid', action='store_true', help='capture begins mid-connection')
    args = ap.parse_args()
    checks = set(args.check.split(','))
    errs = []
    summary = []
    if 'conv' in checks:
        summary.append(f"{check_conv(args, errs)} conversations")
    if checks & {'frames', 'headers', 'calls'}:
        tpk = tshark_pdml(args)
        if 'frames' in checks or 'headers' in checks:
            summary.append(f"{check_frames(args, errs, tpk, 'headers' in checks)} frames")
        if 'calls' in checks:
            summary.append(f"{check_calls(args, errs, tpk)} calls")
    name = args.pcap.rsplit('/', 1)[-1]
    if errs:
        print(f"{name}: {len(errs)} differences from tshark ({', '.join(summary)} checked):")
        for e in errs[:40]:
            print("  " + e)
        if len(errs) > 40:
            print(f"  ... and {len(errs) - 40} more")
        sys.exit(1)
    print(f"{name}: agrees with tshark ({', '.join(summary)})")

if __name__ == '__main__':
    main()
