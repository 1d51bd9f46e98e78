// Shared setup for the grpc-js peers: finds the node_modules that tests/peers/build.sh installed,
// loads the .proto files at runtime with @grpc/proto-loader (and protobufjs for the error details),
// and builds the canonical Lab record (keep it in step with go/client/main.go and py/common.py).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..', '..');
const peersDir = process.env.GW_PEERS_DIR || path.join(root, 'build', 'peers');
const nm = path.join(peersDir, 'node', 'node_modules');
if (!fs.existsSync(path.join(nm, '@grpc', 'grpc-js'))) {
  process.stderr.write(`node peer: no @grpc/grpc-js in ${nm}; run tests/peers/build.sh node\n`);
  process.exit(77);
}
const grpc = require(path.join(nm, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(nm, '@grpc', 'proto-loader'));
const protobuf = require(path.join(nm, 'protobufjs'));

const protos = path.join(root, 'tests', 'vectors', 'protos');
const loadOpts = {
  keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: false, oneofs: true,
  includeDirs: [protos],
};
const pkg = grpc.loadPackageDefinition(
  protoLoader.loadSync(['helloworld.proto', 'lab.proto'], loadOpts));

// A protobufjs root for the messages grpc-js does not encode for us: google.rpc.Status inside
// grpc-status-details-bin, the Any payloads, and the raw call to an unknown method.
const pbRoot = new protobuf.Root();
pbRoot.resolvePath = (origin, target) => {
  const p = path.join(protos, target);
  return fs.existsSync(p) ? p : target; // google/protobuf/* come from protobufjs' bundled copies
};
pbRoot.loadSync(['lab.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
const T = {
  Point: pbRoot.lookupType('grpcwire.test.Record.Point'),
  Record: pbRoot.lookupType('grpcwire.test.Record'),
  LabRequest: pbRoot.lookupType('grpcwire.test.LabRequest'),
  LabReply: pbRoot.lookupType('grpcwire.test.LabReply'),
  Status: pbRoot.lookupType('google.rpc.Status'),
  BadRequest: pbRoot.lookupType('google.rpc.BadRequest'),
};

const MAX_MSG = 8 << 20;
const OPTIONS = {
  'grpc.max_send_message_length': MAX_MSG,
  'grpc.max_receive_message_length': MAX_MSG,
};
const FAIL_MESSAGE = 'résumé ✓';

// Reply blobs identical in every peer: byte i is i mod 251.
function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

function record() {
  return {
    name: 'lab', kind: 'KIND_DATA', samples: [1, -2, 300, 70000], tags: ['a', 'résumé'],
    counters: { x: 1, y: -1 }, point: { x: 3, y: -4 },
    at: { seconds: 1724897757, nanos: 925436000 },
    extra: {
      type_url: 'type.googleapis.com/grpcwire.test.Record.Point',
      value: Buffer.from(T.Point.encode({ x: 1, y: 2 }).finish()),
    },
    origin: { x: -1, y: 1 }, path: [{ x: 1, y: 1 }, { x: 2, y: 4 }],
    blob: Buffer.from([0, 1, 2, 255]), id: '72623859790382856', ratio: 0.5, flag: true,
    big: '18446744073709551615', weights: [1.5, -2.25], delta: -5,
  };
}

// Byte-wise comparison of two Record objects as protobufjs encodes them.
function sameRecord(a, b) {
  if (!a || !b) return false;
  // Map entries come in whatever order the sender wrote them (grpc-go randomises): sort first.
  const norm = (r) => {
    const m = r.counters || {};
    const counters = {};
    for (const k of Object.keys(m).sort()) counters[k] = m[k];
    return Object.assign({}, r, { counters });
  };
  const enc = (r) => Buffer.from(T.Record.encode(T.Record.fromObject(norm(r))).finish());
  return enc(a).equals(enc(b));
}

module.exports = {
  grpc, pkg, T, OPTIONS, FAIL_MESSAGE, pattern, record, sameRecord,
};
