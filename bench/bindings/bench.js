'use strict';
// bindings_bench's Node.js side: prints "binding NS", "binding_cpu NS" (the
// process's CPU time) and "socket NS" (ns per call, best of 5 runs). The socket client is Node's http, keep-alive
// agent, over edgekeyd's Unix socket.
const fs = require('fs');
const http = require('http');
const edgekey = require(process.env.EDGEKEY_NODE_PACKAGE);

const tokens = fs.readFileSync(process.env.EDGEKEY_BENCH_TOKENS, 'utf8').split('\n').slice(0, -1);
const best = (a) => Math.min(...a);

// [wall ns, process CPU ns] per call.
function bindingRun(v) {
  let bad = 0;
  const opts = { permission: 'chat:write' };
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < 5; ++k) for (const t of tokens) if (!v.validate(t, opts).ok) ++bad;
  const wall = Number(process.hrtime.bigint() - t0) / (5 * tokens.length);
  const c = process.cpuUsage(c0);
  if (bad) throw new Error(`${bad} calls were not 200`);
  return [wall, ((c.user + c.system) * 1000) / (5 * tokens.length)];
}

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
  const b = [0, 1, 2, 3, 4].map(() => bindingRun(v));
  console.log(`binding ${best(b.map((r) => r[0])).toFixed(1)}`);
  console.log(`binding_cpu ${best(b.map((r) => r[1])).toFixed(1)}`);
  v.close();
  await socketRun(200);
  const runs = [];
  for (let i = 0; i < 5; ++i) runs.push(await socketRun(2000));
  console.log(`socket ${best(runs).toFixed(1)}`);
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
