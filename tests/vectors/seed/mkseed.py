#!/usr/bin/env python3
"""Rebuild frames 12 and 15 of the seed (shared/seed/000_0388853069830c44.txt) as a pcap.

Every field comes from the seed's Wireshark dump: Ethernet (zero MACs), IPv6 ::1 -> ::1 with the
flow labels and payload lengths shown, TCP with the raw sequence/ack numbers, flags, window,
checksum and timestamp options shown, and the HTTP/2 frames whose header blocks and DATA payloads
the dump prints. The capture therefore starts mid-connection: no SYN, no preface, port 50051."""
import struct, sys

def h2(ftype, flags, stream, payload):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + struct.pack('>I', stream) + payload

req_block = bytes.fromhex(
    '838645956272d141fc1eca245f15852a4b631b87eb1968a0ff418ba0e41d139d09b8d800d87f5f8b1d75d0620d'
    '263d4c4d65647a8a9acac8b4c7602bb8cae040027465864d833505b11f40899acac8b24d494f6a7f857df7c4d82d')
assert len(req_block) == 91
frame12 = (h2(4, 0x01, 0, b'') +
           h2(1, 0x04, 1, req_block) +
           h2(0, 0x01, 1, bytes.fromhex('00000000070a05776f726c64')))
assert len(frame12) == 130
frame15 = (h2(1, 0x04, 1, bytes.fromhex('885f8b1d75d0620d263d4c4d6564')) +
           h2(0, 0x00, 1, bytes.fromhex('000000000d0a0b48656c6c6f20776f726c64')) +
           h2(1, 0x05, 1, bytes.fromhex('40889acac8b21234da8f013040899acac8b5254207317f00')))
assert len(frame15) == 83

LOOP6 = bytes(15) + b'\x01'

def packet(flow, sport, dport, seq, ack, csum, tsval, payload):
    tcp = struct.pack('>HHIIBBHHH', sport, dport, seq, ack, 8 << 4, 0x18, 512, csum, 0)
    tcp += b'\x01\x01\x08\x0a' + struct.pack('>II', tsval, tsval)
    ip6 = struct.pack('>IHBB', (6 << 28) | flow, len(tcp) + len(payload), 6, 64) + LOOP6 + LOOP6
    eth = bytes(12) + b'\x86\xdd'
    return eth + ip6 + tcp + payload

p12 = packet(0x18a16, 55646, 50051, 3678708405, 3438549865, 0x00aa, 848634857, frame12)
p15 = packet(0x579d4, 50051, 55646, 3438549895, 3678708552, 0x007b, 848634858, frame15)
assert len(p12) == 216 and len(p15) == 169

def write(path, packets):
    out = open(path, 'wb')
    out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    for sec, usec, p in packets:
        out.write(struct.pack('<IIII', sec, usec, len(p), len(p)) + p)
    out.close()

write(sys.argv[1] if len(sys.argv) > 1 else 'seed-12-15.pcap',
      ((1724897757, 925436, p12), (1724897757, 925722, p15)))
# The same exchange without frame 12's SETTINGS ACK: the request direction then holds only two
# frames (HEADERS, DATA), fewer than detection wants in a row, so it is settled at the end.
if len(sys.argv) > 2:
    p12short = packet(0x18a16, 55646, 50051, 3678708405 + 9, 3438549865, 0x00aa, 848634857,
                      frame12[9:])
    write(sys.argv[2], ((1724897757, 925436, p12short), (1724897757, 925722, p15)))
