#!/usr/bin/env node
// grpc-js peer client: client.js ADDR SCENARIO...  prints "call <method> status=<CODE> ..." per
// call; exit 0 only when every call ends as the scenario expects.
'use strict';
const c = require('./common');
const { grpc, pkg, T } = c;

const M_UNARY = '/grpcwire.test.Lab/Unary';
const M_SSTREAM = '/grpcwire.test.Lab/ServerStream';
const M_CSTREAM = '/grpcwire.test.Lab/ClientStream';
const M_BIDI = '/grpcwire.test.Lab/Bidi';
const M_MISSING = '/grpcwire.test.Lab/Missing';
const SCENARIOS = ['greeter', 'unary', 'server_stream', 'client_stream', 'bidi', 'large', 'gzip',
  'error_details', 'unimplemented', 'deadline', 'concurrent', 'cancel'];
const S = grpc.status;
const codeName = (code) => Object.keys(S).find((k) => S[k] === code) || `CODE_${code}`;
let failed = false;

function report(method, err, want, extra) {
  const code = err ? err.code : S.OK;
  let line = `call ${method} status=${codeName(code)}`;
  if (code !== S.OK) line += ` message="${err.details || ''}"`;
  if (extra) line += ' ' + extra;
  if (code !== want) {
    line += ` UNEXPECTED(want ${codeName(want)})`;
    failed = true;
  }
  console.log(line);
}

function check(cond, what) {
  if (!cond) {
    console.log('check failed: ' + what);
    failed = true;
  }
}

const req = (seq, control) => (control ? { seq, control, record: c.record() } : { seq, record: c.record() });
const dl = (ms) => ({ deadline: Date.now() + ms });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// unary(client, method name, request, options) -> {err, res}
function unary(client, fn, request, opts) {
  return new Promise((resolve) => {
    client[fn](request, opts || dl(10000), (err, res) => resolve({ err, res }));
  });
}

async function greeter(g) {
  const { err, res } = await unary(g, 'SayHello', { name: 'world' });
  report('/helloworld.Greeter/SayHello', err, S.OK);
  if (!err) {
    console.log('Greeting: ' + res.message);
    check(res.message === 'Hello world', 'greeting text');
  }
}

function serverStream(lab, n) {
  return new Promise((resolve) => {
    let got = 0;
    const call = lab.ServerStream(req(1, { reply_count: n, reply_size: 16 }), dl(10000));
    call.on('data', () => { got++; });
    call.on('error', (err) => { report(M_SSTREAM, err, S.OK, `replies=${got}`); resolve(); });
    call.on('end', () => {
      report(M_SSTREAM, null, S.OK, `replies=${got}`);
      check(got === n, 'server_stream reply count');
      resolve();
    });
  });
}

function clientStream(lab, n) {
  return new Promise((resolve) => {
    const call = lab.ClientStream(dl(10000), (err, res) => {
      report(M_CSTREAM, err, S.OK, res ? `seq=${res.seq}` : '');
      check(err || res.seq === n, 'client_stream count');
      resolve();
    });
    for (let i = 0; i < n; i++) call.write(req(i));
    call.end();
  });
}

function bidi(lab, n) {
  return new Promise((resolve) => {
    let got = 0;
    const call = lab.Bidi(dl(10000));
    // Ping-pong: the next request goes out only after the previous reply arrived.
    call.on('data', (r) => {
      check((r.seq || 0) === got, 'bidi seq');
      got++;
      if (got < n) call.write(req(got));
      else call.end();
    });
    call.on('error', (err) => { report(M_BIDI, err, S.OK, `replies=${got}`); resolve(); });
    call.on('end', () => { report(M_BIDI, null, S.OK, `replies=${got}`); resolve(); });
    call.write(req(0));
  });
}

async function errorDetails(lab) {
  const { err } = await unary(lab, 'Unary', req(1, {
    fail_code: S.INVALID_ARGUMENT, fail_message: c.FAIL_MESSAGE, with_details: true,
  }));
  let nd = 0;
  if (err && err.metadata) {
    for (const v of err.metadata.get('grpc-status-details-bin')) {
      const st = T.Status.decode(v);
      for (const d of st.details) {
        if (d.type_url === 'type.googleapis.com/google.rpc.BadRequest' &&
            T.BadRequest.decode(d.value).field_violations.length === 1) nd++;
      }
    }
  }
  report(M_UNARY, err, S.INVALID_ARGUMENT, `details=${nd}`);
  check(err && err.details === c.FAIL_MESSAGE, 'error message text');
  check(nd === 1, 'one BadRequest detail');
}

function unimplemented(lab) {
  return new Promise((resolve) => {
    lab.makeUnaryRequest(M_MISSING,
      (x) => Buffer.from(T.LabRequest.encode(T.LabRequest.fromObject(x)).finish()),
      (b) => T.LabReply.decode(b), req(1), dl(10000), (err) => {
        report(M_MISSING, err, S.UNIMPLEMENTED);
        resolve();
      });
  });
}

function cancel(lab) {
  return new Promise((resolve) => {
    let got = 0;
    const call = lab.ServerStream(req(1, { reply_count: 100, interval_ms: 50 }));
    let done = false;
    // After cancel() grpc-js may emit both 'error' (CANCELLED) and 'end'; report the first.
    const finish = (err) => {
      if (done) return;
      done = true;
      report(M_SSTREAM, err, S.CANCELLED, `replies=${got}`);
      resolve();
    };
    call.on('data', () => { got++; if (got === 1) call.cancel(); });
    call.on('error', finish);
    call.on('end', () => setImmediate(() => finish(null)));
  });
}

function waitReady(client) {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + 10000, (err) => (err ? reject(err) : resolve()));
  });
}

async function run(addr, scenarios) {
  const creds = grpc.credentials.createInsecure();
  const g = new pkg.helloworld.Greeter(addr, creds, c.OPTIONS);
  // Share one channel (one connection) between the two stubs, as the Go and Python clients do.
  const lab = new pkg.grpcwire.test.Lab(addr, creds, Object.assign({ channelOverride: g.getChannel() }, c.OPTIONS));
  await waitReady(g);
  for (const sc of scenarios) {
    switch (sc) {
      case 'greeter': await greeter(g); break;
      case 'unary': {
        const { err, res } = await unary(lab, 'Unary', req(1));
        report(M_UNARY, err, S.OK, res ? `seq=${res.seq}` : '');
        check(res && c.sameRecord(res.record, c.record()), 'unary echo');
        break;
      }
      case 'server_stream': await serverStream(lab, 5); break;
      case 'client_stream': await clientStream(lab, 5); break;
      case 'bidi': await bidi(lab, 5); break;
      case 'large': {
        const q = req(1, { reply_size: 1 << 20 });
        q.record.blob = c.pattern(1 << 20);
        const { err, res } = await unary(lab, 'Unary', q);
        const n = res && res.record && res.record.blob ? res.record.blob.length : 0;
        report(M_UNARY, err, S.OK, `reply_blob=${n}`);
        check(err || n === 1 << 20, 'large reply size');
        break;
      }
      case 'gzip': {
        // grpc-js compresses per channel, not per call: this scenario opens its own connection.
        const z = new pkg.grpcwire.test.Lab(addr, creds,
          Object.assign({ 'grpc.default_compression_algorithm': 2 }, c.OPTIONS));
        const { err, res } = await unary(z, 'Unary', req(1, { compress_reply: true }));
        report(M_UNARY, err, S.OK, res ? `seq=${res.seq}` : '');
        check(res && c.sameRecord(res.record, c.record()), 'gzip echo');
        z.close();
        break;
      }
      case 'error_details': await errorDetails(lab); break;
      case 'unimplemented': await unimplemented(lab); break;
      case 'deadline': {
        const { err } = await unary(lab, 'Unary', req(1, { sleep_ms: 500 }), dl(100));
        report(M_UNARY, err, S.DEADLINE_EXCEEDED);
        await sleep(500);
        break;
      }
      case 'concurrent': {
        const all = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(lab, 'Unary', req(i))));
        all.forEach(({ err, res }, i) => {
          report(M_UNARY, err, S.OK, `seq=${i}`);
          check(err || (res.seq || 0) === i, 'concurrent seq');
        });
        break;
      }
      case 'cancel': await cancel(lab); await sleep(200); break;
      default:
        process.stderr.write(`node client: unknown scenario ${sc}\n`);
        process.exit(2);
    }
  }
  lab.close();
  g.close();
}

if (process.argv.length < 4) {
  process.stderr.write(`usage: client.js ADDR SCENARIO...\nscenarios: ${SCENARIOS.join(' ')}\n`);
  process.exit(2);
}
run(process.argv[2], process.argv.slice(3)).then(
  () => process.exit(failed ? 1 : 0),
  (e) => { process.stderr.write(`node client: ${e.message}\n`); process.exit(1); });
