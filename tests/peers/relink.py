#!/usr/bin/env python3
"""Rewrite a classic pcap's link layer and file variant, so tests can get every link type and
file flavour grpcwire reads from one real capture. Plain python3, no third-party modules.

usage: relink.py IN.pcap OUT.pcap [--link KIND] [--byte-order le|be] [--ts usec|nano]
                 [--af6 N] [--vlan VID] [--outer-vlan VID]
  --link KIND   keep (default), eth, vlan (802.1Q), qinq (802.1ad outer + 802.1Q inner),
                null-le / null-be (DLT_NULL, family in that byte order), loop (DLT_LOOP),
                raw (LINKTYPE_RAW, bare IP), sll (LINUX_SLL), sll2 (LINUX_SLL2)
  --byte-order  byte order of the file's headers (default: same as the input)
  --ts          timestamp resolution: usec (magic a1b2c3d4) or nano (a1b23c4d); default: input's
  --af6 N       address family for IPv6 under null/loop (default 24, BSD; 28 FreeBSD, 30 macOS)
Input: classic pcap (either byte order, usec or nsec) with link type EN10MB (with or without
VLAN tags), LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPV4 or IPV6. pcapng input: convert first
with `editcap -F pcap`. Frames whose IP packet cannot be found are dropped, with a count on stderr.
"""
import struct
import sys

LT_NULL, LT_EN10MB, LT_RAW, LT_LOOP, LT_SLL, LT_IPV4, LT_IPV6, LT_SLL2 = 0, 1, 101, 108, 113, 228, 229, 276
ETH_IPV4, ETH_IPV6, ETH_8021Q, ETH_8021AD, ETH_QINQ_OLD = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x9100
MAGIC_USEC, MAGIC_NSEC = 0xA1B2C3D4, 0xA1B23C4D
ARPHRD_LOOPBACK = 772


def die(msg):
    sys.stderr.write("relink: %s\n" % msg)
    sys.exit(1)


def read_pcap(path):
    """Returns (endian, nano, snaplen, linktype, [(sec, frac, orig_len, data)])."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 24:
        die("%s: too short for a pcap header" % path)
    for e in ("<", ">"):
        magic = struct.unpack(e + "I", buf[:4])[0]
        if magic in (MAGIC_USEC, MAGIC_NSEC):
            break
    else:
        die("%s: not a classic pcap file (pcapng? use editcap -F pcap)" % path)
    nano = magic == MAGIC_NSEC
    _, _, _, _, snaplen, linktype = struct.unpack(e + "HHiIII", buf[4:24])
    linktype &= 0x0FFFFFFF  # upper bits may carry FCS info
    recs, off = [], 24
    while off + 16 <= len(buf):
        sec, frac, incl, orig = struct.unpack(e + "IIII", buf[off:off + 16])
        off += 16
        if incl > len(buf) - off:
            sys.stderr.write("relink: truncated last record ignored\n")
            break
        recs.append((sec, frac, orig, buf[off:off + incl]))
        off += incl
    return e, nano, snaplen, linktype, recs


def ip_of(linktype, d):
    """The IP packet inside one frame, or None."""
    if linktype == LT_EN10MB:
        if len(d) < 14:
            return None
        et, off = struct.unpack(">H", d[12:14])[0], 14
        while et in (ETH_8021Q, ETH_8021AD, ETH_QINQ_OLD) and len(d) >= off + 4:
            et, off = struct.unpack(">H", d[off + 2:off + 4])[0], off + 4
        return d[off:] if et in (ETH_IPV4, ETH_IPV6) else None
    if linktype == LT_SLL:
        return d[16:] if len(d) >= 16 and struct.unpack(">H", d[14:16])[0] in (ETH_IPV4, ETH_IPV6) else None
    if linktype == LT_SLL2:
        return d[20:] if len(d) >= 20 and struct.unpack(">H", d[0:2])[0] in (ETH_IPV4, ETH_IPV6) else None
    if linktype in (LT_NULL, LT_LOOP):
        return d[4:] if len(d) >= 4 else None
    if linktype in (LT_RAW, LT_IPV4, LT_IPV6):
        return d
    die("input link type %d not supported" % linktype)


def frame_of(kind, ip, af6):
    """(linktype, frame bytes) for an IP packet under the requested link layer."""
    v6 = len(ip) > 0 and ip[0] >> 4 == 6
    et = ETH_IPV6 if v6 else ETH_IPV4
    macs = b"\x00" * 12  # like Linux loopback captures
    if kind == "eth":
        return LT_EN10MB, macs + struct.pack(">H", et) + ip
    if kind == "vlan":
        return LT_EN10MB, macs + struct.pack(">HHH", ETH_8021Q, VLAN, et) + ip
    if kind == "qinq":
        return LT_EN10MB, macs + struct.pack(">HHHHH", ETH_8021AD, OUTER_VLAN, ETH_8021Q, VLAN, et) + ip
    fam = af6 if v6 else 2
    if kind == "null-le":
        return LT_NULL, struct.pack("<I", fam) + ip
    if kind == "null-be":
        return LT_NULL, struct.pack(">I", fam) + ip
    if kind == "loop":
        return LT_LOOP, struct.pack(">I", fam) + ip
    if kind == "raw":
        return LT_RAW, ip
    if kind == "sll":
        # packet type 0 (to us), ARPHRD_LOOPBACK, address length 6, zero address, protocol
        return LT_SLL, struct.pack(">HHH8sH", 0, ARPHRD_LOOPBACK, 6, b"", et) + ip
    if kind == "sll2":
        # protocol, reserved, ifindex 1 (lo), ARPHRD_LOOPBACK, packet type 0, addr len 6, address
        return LT_SLL2, struct.pack(">HHIHBB8s", et, 0, 1, ARPHRD_LOOPBACK, 0, 6, b"") + ip
    die("unknown --link %s" % kind)


VLAN, OUTER_VLAN = 100, 200
KINDS = ("keep", "eth", "vlan", "qinq", "null-le", "null-be", "loop", "raw", "sll", "sll2")


def main(argv):
    global VLAN, OUTER_VLAN
    args, opts = [], {"--link": "keep", "--byte-order": None, "--ts": None, "--af6": "24",
                      "--vlan": "100", "--outer-vlan": "200"}
    it = iter(argv)
    for a in it:
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        if a in opts:
            opts[a] = next(it, None)
            if opts[a] is None:
                die("%s needs a value" % a)
        elif a.startswith("--"):
            die("unknown option %s" % a)
        else:
            args.append(a)
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    kind = opts["--link"]
    if kind not in KINDS:
        die("--link must be one of %s" % ", ".join(KINDS))
    VLAN, OUTER_VLAN = int(opts["--vlan"]) & 0xFFF, int(opts["--outer-vlan"]) & 0xFFF
    e_in, nano_in, snaplen, lt_in, recs = read_pcap(args[0])
    e_out = {"le": "<", "be": ">", None: e_in}.get(opts["--byte-order"])
    if e_out is None:
        die("--byte-order must be le or be")
    nano_out = {"usec": False, "nano": True, None: nano_in}.get(opts["--ts"], "bad")
    if nano_out == "bad":
        die("--ts must be usec or nano")
    af6 = int(opts["--af6"])

    out, dropped, lt_out = [], 0, lt_in
    for sec, frac, orig, d in recs:
        if kind == "keep":
            fr = d
        else:
            ip = ip_of(lt_in, d)
            if ip is None:
                dropped += 1
                continue
            lt_out, fr = frame_of(kind, ip, af6)
            # orig_len keeps the bytes lost to the snap length, on the new header size
            orig = len(fr) + max(orig - len(d), 0)
        if nano_in and not nano_out:
            frac //= 1000
        elif nano_out and not nano_in:
            frac *= 1000
        out.append(struct.pack(e_out + "IIII", sec, frac, len(fr), orig) + fr)
    hdr = struct.pack(e_out + "IHHiIII", MAGIC_NSEC if nano_out else MAGIC_USEC, 2, 4, 0, 0,
                      max(snaplen, max((len(r) - 16 for r in out), default=0)), lt_out)
    with open(args[1], "wb") as f:
        f.write(hdr)
        for r in out:
            f.write(r)
    if dropped:
        sys.stderr.write("relink: dropped %d frames without an IP packet\n" % dropped)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
