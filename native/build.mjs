// Builds native/build/Release/bgpsock.node (TCP MD5 and GTSM for BGP sessions) and
// udpbatch.node (batched UDP receive for decode workers) with node-gyp against the
// installed Node's headers (--nodedir: nothing is downloaded). Run by `npm ci` (install
// script). A failed build never fails the install: the daemon runs without the addons,
// refuses only peers that ask for `password` or `ttl_security`, and decode workers read
// their sockets through Node's dgram.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const prefix = path.dirname(path.dirname(process.execPath));
const warn = (msg) =>
  console.warn(
    `breakwater: native addons not built (${msg}); BGP peers with password or ttl_security will be refused and decode workers receive through Node's dgram. Needs g++, make, python3 and ${prefix}/include/node/node_api.h`,
  );

function findGyp() {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // npm's bundled node-gyp, next to the npm that runs this script or the usual global place
  }
  const candidates = [];
  if (process.env.npm_execpath)
    candidates.push(
      path.join(
        path.dirname(process.env.npm_execpath),
        '..',
        'node_modules',
        'node-gyp',
        'bin',
        'node-gyp.js',
      ),
    );
  candidates.push(
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  return candidates.find((c) => existsSync(c));
}

if (process.env.BREAKWATER_SKIP_NATIVE === '1') {
  warn('BREAKWATER_SKIP_NATIVE=1');
} else if (!existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  warn(`no Node headers under ${prefix}/include/node`);
} else {
  const gyp = findGyp();
  if (!gyp) warn('node-gyp not found');
  else {
    const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${prefix}`, '--loglevel=warn'], {
      cwd: here,
      stdio: 'inherit',
    });
    if (r.status !== 0) warn(`node-gyp exited with ${r.status ?? r.signal}`);
    else console.log('breakwater: native addons built (native/build/Release/bgpsock.node, udpbatch.node)');
  }
}
