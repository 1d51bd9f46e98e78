#!/usr/bin/env node
// grpc-js peer server: helloworld.Greeter plus grpcwire.test.Lab, driven by the Control message.
// Usage: server.js [--host 127.0.0.1|::1] [--port N]   prints "listening on PORT", stops on SIGTERM.
// grpc-js servers never compress responses, so gzip here means a compressed request only.
'use strict';
const c = require('./common');
const { grpc, pkg, T } = c;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// Wait ms milliseconds, or less if the call is cancelled (deadline, client cancel).
function sleep(call, ms) {
  return new Promise((resolve) => {
    if (!ms) return resolve();
    const t = setTimeout(resolve, ms);
    call.on('cancelled', () => { clearTimeout(t); resolve(); });
  });
}

// The status error Control.fail_code asks for; with_details adds grpc-status-details-bin.
function failure(ctl) {
  if (!ctl || !ctl.fail_code) return null;
  const md = new grpc.Metadata();
  if (ctl.with_details) {
    const br = T.BadRequest.encode({
      field_violations: [{ field: 'record.name', description: ctl.fail_message }],
    }).finish();
    const st = T.Status.encode({
      code: ctl.fail_code, message: ctl.fail_message,
      details: [{ type_url: 'type.googleapis.com/google.rpc.BadRequest', value: br }],
    }).finish();
    md.set('grpc-status-details-bin', Buffer.from(st));
  }
  return { code: ctl.fail_code, details: ctl.fail_message || '', metadata: md };
}

function reply(seq, rec, ctl, note) {
  const r = { seq, note };
  if (rec) r.record = Object.assign({}, rec);
  if (ctl && ctl.reply_size > 0) {
    r.record = r.record || {};
    r.record.blob = c.pattern(ctl.reply_size);
  }
  return r;
}

const greeter = {
  SayHello(call, cb) { cb(null, { message: 'Hello ' + call.request.name }); },
  SayHelloStreamReply(call) {
    for (let i = 0; i < 3; i++) call.write({ message: `Hello ${call.request.name} #${i}` });
    call.end();
  },
  SayHelloBidiStream(call) {
    call.on('data', (r) => call.write({ message: 'Hello ' + r.name }));
    call.on('end', () => call.end());
  },
};

const lab = {
  async Unary(call, cb) {
    const ctl = call.request.control || {};
    await sleep(call, ctl.sleep_ms);
    if (call.cancelled) return;
    const err = failure(ctl);
    if (err) return cb(err);
    cb(null, reply(call.request.seq || 0, call.request.record, ctl, 'unary'));
  },
  async ServerStream(call) {
    const ctl = call.request.control || {};
    await sleep(call, ctl.sleep_ms);
    if (call.cancelled) return;
    const err = failure(ctl);
    if (err) { call.emit('error', err); return; }
    const n = Math.max(ctl.reply_count || 0, 1);
    for (let i = 0; i < n; i++) {
      if (i) await sleep(call, ctl.interval_ms);
      if (call.cancelled) return;
      call.write(reply(i, call.request.record, ctl, 'server_stream'));
    }
    call.end();
  },
  ClientStream(call, cb) {
    let n = 0;
    let last = {};
    call.on('data', (r) => { n++; last = r; });
    call.on('end', () => {
      const err = failure(last.control);
      if (err) return cb(err);
      cb(null, reply(n, last.record, last.control, `received ${n}`));
    });
  },
  Bidi(call) {
    call.on('data', (r) => {
      const err = failure(r.control);
      if (err) { call.emit('error', err); return; }
      call.write(reply(r.seq || 0, r.record, r.control, 'bidi'));
    });
    call.on('end', () => call.end());
  },
};

function main() {
  const host = arg('--host', '127.0.0.1');
  const port = arg('--port', '50051');
  const server = new grpc.Server(c.OPTIONS);
  server.addService(pkg.helloworld.Greeter.service, greeter);
  server.addService(pkg.grpcwire.test.Lab.service, lab);
  const h = host.includes(':') ? `[${host}]` : host;
  server.bindAsync(`${h}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) {
      process.stderr.write(`node server: cannot listen on ${h}:${port}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`listening on ${bound}\n`);
  });
  const stop = () => {
    // Graceful first (GOAWAY, clean close); force after a second so tests never hang.
    const t = setTimeout(() => { server.forceShutdown(); process.exit(0); }, 1000);
    server.tryShutdown(() => { clearTimeout(t); process.exit(0); });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
