'use strict';
// bindings_bench's Node.js side (protocol: bindings_bench.cpp, run_language):
// "ready"; per "run", EDGEKEY_BENCH_PASSES (5) passes of validate over the sample, printed as
// "rep WALL CPU" (ns per call; CPU: the process's); on "done", "socket NS"
// (best of 5 runs of Node's http, keep-alive agent, over edgekeyd's Unix
// socket).
const fs = require('fs');
const http = require('http');
const edgekey = require(process.env.EDGEKEY_NODE_PACKAGE);

const tokens = fs.readFileSync(process.env.EDGEKEY_BENCH_TOKENS, 'utf8').split('\n').slice(0, -1);
const best = (a) => Math.min(...a);
const PASSES = Number(process.env.EDGEKEY_BENCH_PASSES || 5);

// [wall ns, process CPU ns] per call.
function bindingRun(v) {
  let bad = 0;
  const opts = { permission: 'chat:write' };
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < PASSES; ++k) for (const t of tokens) if (!v.validate(t, opts).ok) ++bad;
  const wall = Number(process.hrtime.bigint() - t0) / (PASSES * tokens.length);
  const c = process.cpuUsage(c0);
  if (bad) throw new Error(`${bad} calls were not 200`);
  return [wall, ((c.user + c.system) * 1000) / (PASSES * tokens.length)];
}

// One line of stdin, blocking (the driver waits for our answer).
let pending = '';
function readLine() {
  const buf = Buffer.alloc(64);
  while (!pending.includes('\n')) {
    let n;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) return null;
    pending += buf.toString('utf8', 0, n);
  }
  const i = pending.indexOf('\n');
  const line = pending.slice(0, i);
  pending = pending.slice(i + 1);
  return line;
}

const say = (line) => fs.writeSync(1, `${line}\n`);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function request(t) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: process.env.EDGEKEY_BENCH_SOCKET, path: '/v1/validate', agent,
                               headers: { Authorization: t, 'X-Edgekey-Permission': 'chat:write' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function socketRun(n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; ++i) await request(tokens[i]);
  return Number(process.hrtime.bigint() - t0) / n;
}

(async () => {
  const v = edgekey.open(process.env.EDGEKEY_BENCH_TABLE);
  bindingRun(v);  // warm-up (and JIT)
  say('ready');
  while (readLine() === 'run') {
    const [wall, cpu] = bindingRun(v);
    say(`rep ${wall.toFixed(1)} ${cpu.toFixed(1)}`);
  }
  v.close();
  await socketRun(200);
  const runs = [];
  for (let i = 0; i < 5; ++i) runs.push(await socketRun(2000));
  say(`socket ${best(runs).toFixed(1)}`);
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
