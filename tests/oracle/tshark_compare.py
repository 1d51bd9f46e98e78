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
        # tshark prints "1,136 bytes" or "1,074 kB": keep (number, unit) pairs and compare bytes
        # at the precision tshark printed them.
        nums = []
        for i, t in enumerate(toks[1:], 1):
            if re.fullmatch(r'[0-9,]+', t):
                unit = toks[i + 1] if i + 1 < len(toks) else ''
                scale = {'kB': 1000, 'MB': 1000 ** 2, 'GB': 1000 ** 3}.get(unit, 1)
                nums.append((int(t.replace(',', '')), scale))
        # <- frames, <- bytes, -> frames, -> bytes, total frames, total bytes
        b_to_a = (nums[0][0], nums[1]); a_to_b = (nums[2][0], nums[3])
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
    def same(o, t):  # o = (packets, bytes); t = (packets, (value, scale))
        (op, ob), (tp, (tv, scale)) = o, t
        return op == tp and (ob == tv if scale == 1 else abs(ob / scale - tv) < 1)
    for k in set(ours) & set(theirs):
        if any(not same(ours[k][ep], theirs[k][ep]) for ep in k):
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
            # Mid-connection, tshark resolves references to dynamic-table entries inserted
            # before the capture against the entries it happens to have, and shows wrong fields
            # ("content-type: résumé"); we say unknown. With --truth (the full capture), the
            # fields of the same packet decoded from the start are the ground truth: every field
            # we decode must equal it, and every field tshark decodes right, we must decode.
            truth = args.truth_pk.get(no + args.truth_offset) if args.truth_pk else None
            if truth is not None and no <= 2:
                # The first packets after the cut may hold the end of a frame whose beginning
                # was cut away: which packet shows a frame differs there by construction.
                continue
            gh = [h for f in truth['frames'] for h in f['headers']] if truth else None
            if gh is not None and len(gh) == len(oh):
                for i, (g, m) in enumerate(zip(gh, oh)):
                    if m[0] is not None and m[0] != g[0] or m[1] is not None and m[1] != g[1]:
                        errs.append(f"headers: packet {no}: we decode {m}, the truth is {g}")
                    if i < len(th) and len(th) == len(gh) and th[i] == g and (m[0] is None or m[1] is None):
                        errs.append(f"headers: packet {no}: tshark decodes {g} and we do not")
            elif gh is not None:
                errs.append(f"headers: packet {no}: {len(oh)} fields, the full capture has {len(gh)}")
            else:
                pool = list(oh)
                for h in th:
                    if '<unknown>' in h:
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
            # A call whose request headers were never captured: tshark decodes none of its
            # messages, and the roles are a guess until a header block settles them. The header
            # check above covers what both can know of it.
            continue
        if args.mid:
            # tshark's call-level values come from its guessed HPACK state (see headers): only
            # what it knows and we do not is a difference here; the headers check has the truth.
            t = {key: (o[key] if o[key] not in (None, []) else t[key]) for key in t}
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
    ap.add_argument('--truth', help='with --mid: the full capture this one was cut from')
    ap.add_argument('--truth-offset', type=int, default=0,
                    help='packets cut from the front (packet N here is N+offset there)')
    args = ap.parse_args()
    args.truth_pk = None
    if args.truth:
        full = argparse.Namespace(**vars(args)); full.pcap = args.truth
        args.truth_pk = tshark_pdml(full)
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
