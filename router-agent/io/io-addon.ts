// The agent's native I/O addon (router-agent/io/tun: TUN, UDP, AEAD and the
// fast path in one io.node), loaded once, on first use: importing a port's
// module works where the addon was never built.
import { createRequire } from 'node:module';

const ADDON_PATH = './tun/build/Release/io.node';
let loaded: { addon: unknown } | { error: string } | undefined;

/** The addon's exports, or why it did not load. */
export function loadIoAddon(): { addon: unknown } | { error: string } {
  if (loaded) return loaded;
  try {
    loaded = { addon: createRequire(import.meta.url)(ADDON_PATH) as unknown };
  } catch (err) {
    loaded = {
      error: `the native I/O addon is not built (${ADDON_PATH} relative to router-agent/io): run 'npm install' or 'npm run install': ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  return loaded;
}
