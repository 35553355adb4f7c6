// Runs iproute2's `ip` with an argument array (never a shell string), bounded
// in time, and turns a failure into a SwitchbackError carrying ip's own message.

import { execFile } from 'node:child_process';
import { SwitchbackError, type ErrorCode } from '../../common/errors.js';

const DEFAULT_TIMEOUT_MS = 10_000;

function codeFor(stderr: string): ErrorCode {
  if (/File exists|already assigned/i.test(stderr)) return 'ALREADY_EXISTS';
  if (/Operation not permitted|Permission denied/i.test(stderr)) return 'PERMISSION_DENIED';
  if (/Cannot find device|No such device|No such process|does not exist/i.test(stderr)) return 'NOT_FOUND';
  if (/Invalid|not a valid|Error: (?:inet|any valid) prefix|Garbage/i.test(stderr)) return 'INVALID_ARGUMENT';
  return 'INTERNAL';
}

/** Runs `ip ...args`; resolves with stdout, rejects with a SwitchbackError. */
export function ip(args: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: timeoutMs, maxBuffer: 4 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const cmd = `ip ${args.join(' ')}`;
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT') {
        return reject(new SwitchbackError('UNAVAILABLE', `${cmd}: the 'ip' command (iproute2) is not installed`, { cause: err }));
      }
      if (e.killed) {
        return reject(new SwitchbackError('UNAVAILABLE', `${cmd}: no answer within ${timeoutMs} ms`, { cause: err }));
      }
      const msg = stderr.trim() || e.message;
      reject(new SwitchbackError(codeFor(msg), `${cmd}: ${msg}`, { cause: err }));
    });
  });
}
