// One error family for the whole system (as nats.js does): every failure a
// caller may act on is a SwitchbackError with a stable `code`. Adapters
// translate codes to their own vocabulary (gRPC status codes, HTTP status,
// CLI exit codes) at the edge and nowhere else.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // input failed validation; `field` names what
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION' // valid input that the current state refuses
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'STALE_EPOCH' // a message from an older controller epoch
  | 'RESOURCE_EXHAUSTED' // e.g. the LMDB map is full
  | 'UNAVAILABLE' // a peer or dependency cannot be reached (retry later)
  | 'INTERNAL';

export interface ErrorDetails {
  /** The offending field, as a dotted path (`links[2].cost`). */
  field?: string;
  /** The file (or other source) the input came from. */
  source?: string;
  /** 1-based line in `source`, where known. */
  line?: number;
  cause?: unknown;
}

export class SwitchbackError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly source?: string;
  readonly line?: number;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(formatMessage(message, details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SwitchbackError';
    this.code = code;
    this.field = details.field;
    this.source = details.source;
    this.line = details.line;
  }

  static is(err: unknown, code?: ErrorCode): err is SwitchbackError {
    return err instanceof SwitchbackError && (code === undefined || err.code === code);
  }
}

function formatMessage(message: string, d: ErrorDetails): string {
  const where = d.source ? `${d.source}${d.line ? `:${d.line}` : ''}: ` : '';
  const field = d.field && !message.includes(d.field) ? `${d.field}: ` : '';
  return `${where}${field}${message}`;
}

export const invalid = (field: string, message: string, details: Omit<ErrorDetails, 'field'> = {}) =>
  new SwitchbackError('INVALID_ARGUMENT', message, { ...details, field });

export const notFound = (what: string, id: string) => new SwitchbackError('NOT_FOUND', `${what} '${id}' not found`);

export const precondition = (message: string) => new SwitchbackError('FAILED_PRECONDITION', message);

/** Wraps anything thrown into the family, keeping SwitchbackErrors as they are. */
export function asSwitchbackError(err: unknown): SwitchbackError {
  if (err instanceof SwitchbackError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SwitchbackError('INTERNAL', message, { cause: err });
}
