// grpc-js answers a request body that does not decode with INTERNAL
// ("Error deserializing request"), as if the server were broken. A caller's
// garbage is the caller's error: these wrappers let such a body through as a
// marker and refuse it with INVALID_ARGUMENT before any handler sees it.
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, ServiceDefinition, UntypedHandleCall } from '@grpc/grpc-js';
import { invalid } from '../../common/errors.js';
import { toServiceError } from './grpc-status.js';

const CORRUPT = Symbol('corrupt request');

interface Corrupt {
  [CORRUPT]: string;
}

const isCorrupt = (r: unknown): r is Corrupt => typeof r === 'object' && r !== null && CORRUPT in r;

/** The service definition with request decoding that never throws. */
export function lenientDefinition<D extends ServiceDefinition>(def: D): D {
  const out: Record<string, unknown> = {};
  for (const [name, d] of Object.entries(def)) {
    out[name] = {
      ...d,
      requestDeserialize: (b: Buffer) => {
        try {
          return d.requestDeserialize(b);
        } catch (err) {
          return { [CORRUPT]: `${(err as Error).message} (${b.length} bytes)` };
        }
      },
    };
  }
  return out as D;
}

/** Handlers (unary and server-streaming) that refuse a corrupt request before calling `impl`. */
export function refuseCorrupt(def: ServiceDefinition, impl: Record<string, UntypedHandleCall>): Record<string, UntypedHandleCall> {
  const out: Record<string, UntypedHandleCall> = {};
  for (const [name, d] of Object.entries(def)) {
    const handler = impl[name] as ((...a: unknown[]) => void) | undefined;
    if (!handler) continue;
    const refusal = (r: Corrupt) => toServiceError(invalid('request', `corrupt ${d.path.slice(d.path.lastIndexOf('/') + 1)} request: ${r[CORRUPT]}`));
    out[name] = (d.responseStream
      ? (call: ServerWritableStream<unknown, unknown>) => {
          if (isCorrupt(call.request)) return void call.emit('error', refusal(call.request));
          handler(call);
        }
      : (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
          if (isCorrupt(call.request)) return cb(refusal(call.request), null);
          handler(call, cb);
        }) as UntypedHandleCall;
  }
  return out;
}
