// What the control client needs of a transport (gRPC stream or NATS
// subjects): open a session with a Hello, send requests on it, be told of
// responses and of its end. Kept narrow so that one contract test suite runs
// against every transport.
import type { SwitchbackError } from '../../common/errors.js';
import type { Hello, SessionRequest, SessionResponse, TableSnapshot } from '../../proto/gen/switchback/v1/session.js';

/** PEM key, certificate and CA of a gateway (from its bundle). */
export interface TlsCredentials {
  keyPem: string;
  certPem: string;
  caPem: string;
}

export interface SessionHandlers {
  /** Responses in the order the controller sent them, the answer to the Hello first. */
  message(m: SessionResponse): void;
  /** The session is over (controller gone or restarted, refused, transport down). Called at most once. */
  closed(reason: SwitchbackError): void;
}

export interface ControlSession {
  send(req: SessionRequest): void;
  /** Ends the session from this side; `closed` is not called then. */
  close(): void;
}

export interface ControlTransport {
  readonly name: string;
  /**
   * Sends the Hello and resolves once the controller answered; the answer
   * is then delivered through `handlers.message`. Rejects with a
   * SwitchbackError when the controller cannot be reached (UNAVAILABLE) or
   * refuses the Hello (its code: PERMISSION_DENIED, NOT_FOUND, ...).
   */
  open(hello: Hello, handlers: SessionHandlers): Promise<ControlSession>;
  /** The newest table kept outside the controller (NATS: the KV bucket), if the transport has such a place. */
  fetchLatest?(gatewayId: string): Promise<TableSnapshot | undefined>;
  /** New TLS credentials (a renewed certificate) for the sessions opened from now on; a transport without TLS has none. */
  updateCredentials?(tls: TlsCredentials): void;
  close(): Promise<void>;
}
