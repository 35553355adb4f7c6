// The only place where the error family meets gRPC status codes.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { asSwitchbackError, SwitchbackError, type ErrorCode } from '../../common/errors.js';

const toStatus: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  STALE_EPOCH: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
};

const fromStatus = new Map<number, ErrorCode>(
  (Object.entries(toStatus) as [ErrorCode, status][]).filter(([c]) => c !== 'STALE_EPOCH').map(([c, s]) => [s, c]),
);

/** Printable ASCII without '%': sent as it is. */
const PLAIN_FIELD = /^[\x20-\x24\x26-\x7e]*$/;

function decodeField(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (!v.includes('%')) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** A SwitchbackError as a gRPC error; the field travels in metadata. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = asSwitchbackError(err);
  const metadata = new Metadata();
  metadata.set('switchback-code', e.code);
  // Metadata values must be printable ASCII (grpc-js throws otherwise, and
  // the caller got UNKNOWN instead of the error): a field named by input,
  // such as a unicode YAML key, travels percent-encoded. Found by fuzzing.
  if (e.field) metadata.set('switchback-field', PLAIN_FIELD.test(e.field) ? e.field : encodeURIComponent(e.field));
  return { code: toStatus[e.code], details: e.message, metadata };
}

/** A gRPC client error back into the family (for `switchback ctl`). */
export function fromServiceError(err: ServiceError): SwitchbackError {
  const named = err.metadata?.get('switchback-code')[0];
  const code = (typeof named === 'string' && named in toStatus ? named : fromStatus.get(err.code)) as ErrorCode | undefined;
  const field = decodeField(err.metadata?.get('switchback-field')[0]);
  if (err.code === status.UNAVAILABLE && !named) {
    return new SwitchbackError('UNAVAILABLE', `controller unreachable: ${err.details || err.message}`);
  }
  return new SwitchbackError(code ?? 'INTERNAL', err.details || err.message, { field: typeof field === 'string' ? field : undefined });
}
