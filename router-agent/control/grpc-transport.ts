// The agent's session over gRPC: one bidirectional stream, mutual TLS with
// the key and certificate of the gateway's bundle (plain text only when
// explicitly insecure, for local tests).
import { credentials, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { SwitchbackError } from '../../common/errors.js';
import { SouthboundServiceClient, type Hello, type SessionRequest, type SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import { fromServiceError } from '../../controller/northbound/grpc-status.js';
import type { ControlSession, ControlTransport, SessionHandlers, TlsCredentials } from './transport.js';

export interface GrpcTransportOptions {
  /** The controller's southbound address, host:port. */
  address: string;
  tls?: { keyPem: string; certPem: string; caPem: string; serverName?: string };
  insecure?: boolean;
  /** Time for the controller to answer the Hello (default 10 s). */
  openTimeoutMs?: number;
}

export class GrpcTransport implements ControlTransport {
  readonly name = 'grpc';
  private client: SouthboundServiceClient;
  private readonly openTimeoutMs: number;
  private readonly calls = new Set<ClientDuplexStream<SessionRequest, SessionResponse>>();

  constructor(private readonly opts: GrpcTransportOptions) {
    this.openTimeoutMs = opts.openTimeoutMs ?? 10_000;
    this.client = this.newClient(opts.tls);
  }

  /** Sessions opened from now on present the new certificate; an open one keeps its connection until it ends. */
  updateCredentials(tls: TlsCredentials): void {
    if (!this.opts.tls) throw new SwitchbackError('FAILED_PRECONDITION', 'this gRPC transport is not using TLS', { field: 'tls' });
    const old = this.client;
    this.client = this.newClient({ ...this.opts.tls, ...tls });
    // grpc-js keeps a channel's in-flight calls running after close().
    old.close();
  }

  private newClient(tls: GrpcTransportOptions['tls']): SouthboundServiceClient {
    const opts = this.opts;
    let creds: ChannelCredentials;
    if (tls) {
      creds = credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem));
    } else if (opts.insecure) {
      creds = credentials.createInsecure();
    } else {
      throw new SwitchbackError('INVALID_ARGUMENT', 'gRPC transport needs TLS credentials (a bundle) or an explicit insecure flag', { field: 'tls' });
    }
    return new SouthboundServiceClient(opts.address, creds, {
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
      // Tables can be large; the default 4 MB limit would refuse a big site.
      'grpc.max_receive_message_length': 256 << 20,
      // Reconnect on the agent's own schedule, not grpc-js's two-minute cap.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 5_000,
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
  }

  open(hello: Hello, handlers: SessionHandlers): Promise<ControlSession> {
    return new Promise((resolve, reject) => {
      const call = this.client.session();
      this.calls.add(call);
      let opened = false;
      let over = false;
      const finish = (err: SwitchbackError) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        this.calls.delete(call);
        if (opened) handlers.closed(err);
        else reject(err);
      };
      const timer = setTimeout(() => {
        call.cancel();
        finish(new SwitchbackError('UNAVAILABLE', `controller ${this.client.getChannel().getTarget()} did not answer the Hello in ${this.openTimeoutMs} ms`));
      }, this.openTimeoutMs);
      const session: ControlSession = {
        send: (req) => {
          if (!over) call.write(req);
        },
        close: () => {
          over = true;
          clearTimeout(timer);
          this.calls.delete(call);
          call.cancel();
        },
      };
      call.on('data', (m: SessionResponse) => {
        if (over) return;
        if (!opened) {
          opened = true;
          clearTimeout(timer);
          resolve(session);
        }
        // After the caller has the session (the answer may need an ack); setImmediate keeps order.
        setImmediate(() => !over && handlers.message(m));
      });
      call.on('error', (e: ServiceError) => setImmediate(() => finish(fromServiceError(e))));
      call.on('end', () => setImmediate(() => finish(new SwitchbackError('UNAVAILABLE', 'controller ended the session'))));
      call.write({ body: { $case: 'hello', hello } });
    });
  }

  async close(): Promise<void> {
    for (const c of this.calls) c.cancel();
    this.calls.clear();
    this.client.close();
  }
}
