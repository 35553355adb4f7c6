// Files that hold private keys: written owner-only (0600) in an owner-only
// directory (0700), atomically, and refused when someone else could read
// them (as ssh refuses a private key readable by others).
import { chmodSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { invalid, SwitchbackError } from './errors.js';

export function ensureOwnerOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes `text` to `path` with mode 0600 via a temporary file: no reader sees half a key. */
export function writeOwnerOnlyFile(path: string, text: string, field = 'file'): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    throw new SwitchbackError('INVALID_ARGUMENT', `cannot write ${path}: ${(err as Error).message}`, { field, cause: err });
  }
}

/** Refuses a key file that group or others may read or write. */
export function checkOwnerOnly(path: string, field: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    throw invalid(field, `cannot read ${path}: ${(err as Error).message}`);
  }
  if (mode & 0o077) {
    throw invalid(field, `${path} holds a private key but is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); fix it with: chmod 600 ${path}`);
  }
}
