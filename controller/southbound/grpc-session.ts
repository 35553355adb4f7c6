// The southbound session over gRPC: one bidirectional stream per agent on
// its own grpc-js server. With TLS the client certificate (checked against
// the controller CA in the handshake, then against the CA's issue and
// revocation records) names the gateway; --insecure takes the name from
// the Hello and is for local tests only.
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { SwitchbackError, invalid } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { SessionRequest, SouthboundServiceService, type SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import type { GatewayCa } from '../ca/ca.js';
import { bindServer, closeServer, type GrpcListener } from '../northbound/admin-server.js';
import { toServiceError } from '../northbound/grpc-status.js';
import type { AgentSession, SessionCore, SessionSink } from './session-core.js';

const log = createLogger('southbound');

/** Agents send small messages; anything larger is refused by grpc-js itself. */
const MAX_REQUEST_BYTES = 1 << 20;

export interface GrpcSouthboundOptions {
  listen: string;
  /** mTLS with this CA; the server certificate is issued for `serverNames`. */
  ca?: GatewayCa;
  serverNames?: readonly string[];
  /** Plain text, identity from the Hello: only when explicitly configured. */
  insecure?: boolean;
}

/** A request that did not decode: kept so the handler can refuse it with a status and a log line. */
interface Corrupt {
  corrupt: string;
}

type Incoming = SessionRequest | Corrupt;

const service = {
  session: {
    ...SouthboundServiceService.session,
    requestDeserialize: (b: Buffer): Incoming => {
      try {
        return SessionRequest.decode(b);
      } catch (err) {
        return { corrupt: `${(err as Error).message} (${b.length} bytes)` };
      }
    },
  },
};

export async function startGrpcSouthbound(core: SessionCore, opts: GrpcSouthboundOptions): Promise<GrpcListener> {
  if (!opts.insecure && !opts.ca) throw invalid('southbound', 'gRPC southbound needs a CA for mTLS, or --insecure');
  const server = new Server({
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
    // Finds agents whose connection died silently (a gateway lost power).
    'grpc.keepalive_time_ms': 15_000,
    'grpc.keepalive_timeout_ms': 5_000,
  });
  server.addService(service, { session: (call: ServerDuplexStream<Incoming, SessionResponse>) => handle(core, call, opts) });
  let creds: ServerCredentials;
  if (opts.insecure) {
    creds = ServerCredentials.createInsecure();
    log.warn('southbound gRPC is PLAIN TEXT (--insecure): gateways are not authenticated', { listen: opts.listen });
  } else {
    const sc = await opts.ca!.serverCredentials([...(opts.serverNames ?? []), hostOf(opts.listen).replace(/^\[(.*)\]$/, '$1')]);
    creds = ServerCredentials.createSsl(Buffer.from(opts.ca!.caPem), [{ private_key: Buffer.from(sc.keyPem), cert_chain: Buffer.from(sc.certPem) }], true);
  }
  const port = await bindServer(server, opts.listen, creds);
  const address = `${hostOf(opts.listen)}:${port}`;
  return { address, port, close: () => closeServer(server, 1000) };
}

function handle(core: SessionCore, call: ServerDuplexStream<Incoming, SessionResponse>, opts: GrpcSouthboundOptions): void {
  const peer = call.getPeer();
  let session: AgentSession | undefined;
  let ended = false;
  /** Ends the call with the error as its status. */
  const endCall = (err: unknown) => {
    if (ended) return;
    ended = true;
    call.emit('error', toServiceError(err));
  };
  /** Logs and counts the refusal, then ends the call with it. */
  const refuse = (err: unknown, gw: string | undefined, what: string) => {
    if (!ended) core.refused(gw ?? '?', 'grpc', what, err, { peer });
    endCall(err);
  };
  const sink: SessionSink = {
    transport: 'grpc',
    send: (m) => (ended ? true : call.write(m)),
    // The session core logged why.
    close: endCall,
  };

  let identity: string | undefined;
  /** The TLS handshake refused an expired certificate; a session outliving its certificate is ended then. */
  let expiresMs = Infinity;
  if (!opts.insecure) {
    try {
      const peer = call.getAuthContext()?.sslPeerCertificate;
      identity = opts.ca!.identify(peer);
      expiresMs = Date.parse(peer?.valid_to ?? '') || Infinity;
    } catch (err) {
      return refuse(err, undefined, 'certificate');
    }
  }

  call.on('data', (req: Incoming) => {
    if (ended) return;
    if ('corrupt' in req) {
      session?.end();
      return refuse(invalid('message', `corrupt SessionRequest: ${req.corrupt}`), session?.gatewayId ?? identity, 'message');
    }
    if (session) return session.receive(req);
    if (req.body?.$case !== 'hello') {
      return refuse(new SwitchbackError('FAILED_PRECONDITION', 'the first message of a session must be a Hello'), identity, 'message');
    }
    try {
      session = core.open(req.body.hello, identity, sink);
      if (expiresMs !== Infinity) untilExpiry();
    } catch (err) {
      // core.open logged and counted it.
      endCall(err);
    }
  });
  call.on('drain', () => session?.writable());
  let expiryTimer: NodeJS.Timeout | undefined;
  const untilExpiry = () => {
    const left = expiresMs - Date.now();
    if (left <= 0) {
      return session?.close(new SwitchbackError('UNAUTHENTICATED', `the client certificate of gateway '${identity}' expired at ${new Date(expiresMs).toISOString()}`));
    }
    // Node's timers hold at most 2^31-1 ms (24.8 days); certificates last longer.
    expiryTimer = setTimeout(untilExpiry, Math.min(left, 2 ** 31 - 1));
    expiryTimer.unref();
  };
  const gone = () => {
    clearTimeout(expiryTimer);
    session?.end();
    ended = true;
  };
  call.on('end', () => {
    gone();
    call.end();
  });
  call.on('cancelled', gone);
  call.on('close', gone);
  call.on('error', gone);
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}
