// The journal as server-sent events: replay from the position the browser
// names (Last-Event-ID on a reconnect, ?after= on first load), then follow
// the live journal. Acks go out as unnumbered `ack` events (they are not in
// the journal, so nothing replays them).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from '../controller.js';
import type { JournalEntry } from '../store/store.js';

/** A browser that falls this far behind is cut off; it reconnects with Last-Event-ID. */
const MAX_BUFFERED_BYTES = 1 << 20;
const HEARTBEAT_MS = 15_000;
/** Without a position, a new feed starts with this many recent entries. */
export const DEFAULT_REPLAY = 50;

export function parseAfter(req: IncomingMessage, url: URL, lastSeq: number): number | undefined {
  const raw = (req.headers['last-event-id'] as string | undefined) ?? url.searchParams.get('after') ?? undefined;
  if (raw === undefined || raw === '') return Math.max(0, lastSeq - DEFAULT_REPLAY);
  if (!/^\d{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}

export function journalJson(e: JournalEntry) {
  return { seq: e.seq, atUnixMs: e.atUnixMs, actor: e.actor, action: e.action, subject: e.subject, summary: e.summary, tables: e.tables };
}

/** Serves one event stream; returns a function that ends it. */
export function serveEvents(ctl: Controller, res: ServerResponse, after: number): () => void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let last = after;
  let ended = false;
  const write = (chunk: string) => {
    if (ended) return;
    res.write(chunk);
    if (res.writableLength > MAX_BUFFERED_BYTES) end();
  };
  const send = (entry: JournalEntry) => {
    if (entry.seq <= last) return;
    last = entry.seq;
    write(`id: ${entry.seq}\nevent: journal\ndata: ${JSON.stringify(journalJson(entry))}\n\n`);
  };
  // Listen first, then replay: an entry committed in between is sent once.
  const off = ctl.on((e) => {
    if (e.type === 'journal') send(e.entry);
    else if (e.type === 'ack') write(`event: ack\ndata: ${JSON.stringify({ gatewayId: e.gatewayId, version: e.version, transport: e.transport })}\n\n`);
  });
  write(`retry: 2000\n\n`);
  for (;;) {
    const batch = ctl.store.journal(last, 1000);
    batch.forEach(send);
    if (batch.length < 1000 || ended) break;
  }
  const beat = setInterval(() => write(`: keep-alive\n\n`), HEARTBEAT_MS);
  beat.unref();
  function end() {
    if (ended) return;
    ended = true;
    off();
    clearInterval(beat);
    res.end();
  }
  res.on('close', end);
  res.on('error', end);
  return end;
}
