// Builds the TUN addon (run by the root package's `install` script). node-gyp
// is pointed at the headers of the Node running the install when that Node
// ships them (Debian's nodejs and the official tarballs do), so the build
// works offline; an explicit npm `nodedir` setting still wins.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = ['rebuild', '--directory', here];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
// npm tells lifecycle scripts where its bundled node-gyp is.
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' });
if (r.error) {
  console.error(`cannot run node-gyp (${r.error.message}): run this through 'npm install' or 'npm run install'`);
  process.exit(1);
}
process.exit(r.status ?? 1);
