'use strict';
// `npm install` builds the addon with node-gyp against the headers of the
// Node that runs it (<prefix>/include/node, e.g. /usr/include/node), never
// downloading any: --nodedir is that prefix. libedgekey is found with
// pkg-config (PKG_CONFIG_PATH for an install outside the default prefix).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  console.error(`edgekey: no Node headers in ${prefix}/include/node: install the Node package that ships them`);
  process.exit(1);
}
try {
  execFileSync('pkg-config', ['--exists', 'edgekey'], { stdio: 'inherit' });
} catch (e) {
  console.error('edgekey: pkg-config does not find libedgekey (edgekey.pc): install it (cmake --install) ' +
                'or point PKG_CONFIG_PATH at the directory holding edgekey.pc');
  process.exit(1);
}
const gyp = process.env.npm_config_node_gyp ||
            require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.dirname(process.env.npm_execpath || '')] });
execFileSync(process.execPath, [gyp, 'rebuild', `--nodedir=${prefix}`], { stdio: 'inherit', cwd: __dirname });
