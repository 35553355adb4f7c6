// A promise-shaped admin client for `switchback ctl` and tests.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { userInfo } from 'node:os';
import { AdminServiceClient, type JournalEntry } from '../../proto/gen/switchback/v1/admin.js';
import type { ClientTls } from '../../common/admin-credential-file.js';
import { fromServiceError } from '../northbound/grpc-status.js';

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: Date }, cb: (e: ServiceError | null, r: Res) => void) => unknown;
type Req<F> = F extends Unary<infer Q, any> ? Q : never;
type Res<F> = F extends Unary<any, infer R> ? R : never;
type UnaryNames = {
  [K in keyof AdminServiceClient]: AdminServiceClient[K] extends (...a: any[]) => any ? (K extends 'watchEvents' ? never : K) : never;
}[keyof AdminServiceClient];

export class AdminClient {
  private readonly client: AdminServiceClient;
  private readonly actor: string;

  constructor(
    readonly address: string,
    opts: { actor?: string; timeoutMs?: number; tls?: ClientTls } = {},
  ) {
    // With TLS the certificate names the caller; without, the controller
    // trusts loopback callers and journals the claimed actor as '<actor>@local'.
    const creds = opts.tls
      ? credentials.createSsl(Buffer.from(opts.tls.caPem), Buffer.from(opts.tls.keyPem), Buffer.from(opts.tls.certPem))
      : credentials.createInsecure();
    this.client = new AdminServiceClient(address, creds);
    this.actor = opts.actor ?? safeUser();
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  private readonly timeoutMs: number;

  call<K extends UnaryNames>(method: K, req: Req<AdminServiceClient[K]>): Promise<Res<AdminServiceClient[K]>> {
    const md = new Metadata();
    md.set('switchback-actor', this.actor);
    const fn = (this.client[method] as unknown as Unary<unknown, unknown>).bind(this.client);
    return new Promise((resolve, reject) => {
      fn(req, md, { deadline: new Date(Date.now() + this.timeoutMs) }, (err, res) => (err ? reject(fromServiceError(err)) : resolve(res as never)));
    });
  }

  /** Follows the journal; returns a function that stops following. */
  watch(afterSeq: number, onEntry: (e: JournalEntry) => void, onError?: (e: Error) => void): () => void {
    const md = new Metadata();
    md.set('switchback-actor', this.actor);
    const stream = this.client.watchEvents({ afterSeq }, md);
    stream.on('data', (m: { entry?: JournalEntry }) => m.entry && onEntry(m.entry));
    stream.on('error', (e: ServiceError) => {
      if (e.code !== 1 /* CANCELLED */) onError?.(fromServiceError(e));
    });
    return () => stream.cancel();
  }

  close(): void {
    this.client.close();
  }
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^\w.-]/g, '') || 'unknown';
  } catch {
    return 'unknown';
  }
}
