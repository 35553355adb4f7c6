// Turns an operating-system error (Node's `code`/`errno`/`syscall` errors,
// the TUN addon's, raw-socket's) into a SwitchbackError that says what we
// tried, which call failed and the errno text.

import { SwitchbackError, type ErrorCode } from '../../common/errors.js';

const byErrno: Record<string, ErrorCode> = {
  EPERM: 'PERMISSION_DENIED',
  EACCES: 'PERMISSION_DENIED',
  EINVAL: 'INVALID_ARGUMENT',
  ENAMETOOLONG: 'INVALID_ARGUMENT',
  EAFNOSUPPORT: 'INVALID_ARGUMENT',
  EBUSY: 'ALREADY_EXISTS',
  EEXIST: 'ALREADY_EXISTS',
  EADDRINUSE: 'ALREADY_EXISTS',
  ENOENT: 'UNAVAILABLE',
  ENODEV: 'UNAVAILABLE',
  ENXIO: 'UNAVAILABLE',
  EADDRNOTAVAIL: 'UNAVAILABLE',
  ENOMEM: 'RESOURCE_EXHAUSTED',
  ENOBUFS: 'RESOURCE_EXHAUSTED',
  EMFILE: 'RESOURCE_EXHAUSTED',
  ENFILE: 'RESOURCE_EXHAUSTED',
};

export function systemError(what: string, err: unknown, field?: string): SwitchbackError {
  if (err instanceof SwitchbackError) return err;
  const e = (err ?? {}) as { code?: unknown; message?: unknown };
  const errnoName = typeof e.code === 'string' ? e.code : undefined;
  const text = typeof e.message === 'string' ? e.message : String(err);
  const suffix = errnoName && !text.includes(errnoName) ? ` (${errnoName})` : '';
  const code = (errnoName && byErrno[errnoName]) || 'INTERNAL';
  return new SwitchbackError(code, `${what}: ${text}${suffix}`, { field, cause: err });
}
