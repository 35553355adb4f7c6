// The behaviour every Underlay must show, run against each implementation
// (as js-libp2p runs one interface suite against every transport). Each test
// gets a fresh pair of ports that can reach each other.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Endpoint, Underlay, UnderlayCounters } from '../../router-agent/io/underlay.js';
import { until } from '../helpers/async-assert.js';

export interface UnderlayPair {
  a: Underlay;
  b: Underlay;
  /** Closes both (and whatever else the factory made). */
  close(): Promise<void>;
}

export interface ContractOptions {
  /** False for GRE: no ports, `port` is 0 on both sides. */
  ports: boolean;
  /** The largest payload send() accepts. */
  maxPayload: number;
}

interface Received {
  bytes: Uint8Array;
  from: Endpoint;
}

function collect(u: Underlay): Received[] {
  const got: Received[] = [];
  u.onDatagram((bytes, from) => got.push({ bytes, from }));
  return got;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const zero: UnderlayCounters = {
  txPackets: 0,
  txBytes: 0,
  txDropped: 0,
  txErrors: 0,
  rxPackets: 0,
  rxBytes: 0,
  rxDropped: 0,
  rxErrors: 0,
  handlerErrors: 0,
};

function base(c: UnderlayCounters): UnderlayCounters {
  const out = { ...zero };
  for (const k of Object.keys(zero) as (keyof UnderlayCounters)[]) out[k] = c[k];
  return out;
}

/** Defines and runs the contract suite for one implementation. */
export function underlayContract(name: string, makePair: () => Promise<UnderlayPair>, opts: ContractOptions): void {
  const test = suite<{ pair: UnderlayPair }>(`Underlay contract: ${name}`, {} as { pair: UnderlayPair });

  test.before.each(async (ctx) => {
    ctx.pair = await makePair();
  });
  test.after.each(async (ctx) => {
    await ctx.pair.close();
  });

  test('reports its kind and local endpoint', ({ pair: { a, b } }) => {
    assert.ok(['udp', 'gre', 'memory'].includes(a.kind));
    assert.is(a.kind, b.kind);
    assert.type(a.local.host, 'string');
    if (opts.ports) assert.ok(a.local.port > 0 && a.local.port <= 65535);
    else assert.is(a.local.port, 0);
    assert.equal(base(a.counters), zero);
  });

  test('delivers a datagram intact, naming the sender; counts both sides', async ({ pair: { a, b } }) => {
    const got = collect(b);
    const msg = pattern(100, 1);
    a.send(msg, b.local);
    await until(() => got.length === 1, 'one datagram at b');
    assert.equal([...got[0].bytes], [...msg]);
    assert.equal(got[0].from, { host: a.local.host, port: a.local.port });
    await until(() => a.counters.txPackets === 1, 'the send completed');
    assert.equal(base(a.counters), { ...zero, txPackets: 1, txBytes: 100 });
    assert.equal(base(b.counters), { ...zero, rxPackets: 1, rxBytes: 100 });
  });

  test('works both ways: b answers the sender it was told', async ({ pair: { a, b } }) => {
    const atA = collect(a);
    b.onDatagram((bytes, from) => b.send(Uint8Array.from(bytes, (x) => x ^ 0xff), from));
    a.send(Uint8Array.of(1, 2, 3), b.local);
    await until(() => atA.length === 1, 'the answer at a');
    assert.equal([...atA[0].bytes], [0xfe, 0xfd, 0xfc]);
    assert.equal(atA[0].from, { host: b.local.host, port: b.local.port });
  });

  test('sizes from 1 byte to the largest accepted payload', async ({ pair: { a, b } }) => {
    const got = collect(b);
    const sizes = [1, 1400, 9000, opts.maxPayload];
    for (const [i, n] of sizes.entries()) a.send(pattern(n, i), b.local);
    await until(() => got.length === sizes.length, 'every size');
    const bySize = new Map(got.map((g) => [g.bytes.length, g.bytes]));
    for (const [i, n] of sizes.entries()) {
      assert.ok(bySize.has(n), `a ${n}-byte datagram arrived`);
      assert.ok(Buffer.from(bySize.get(n)!).equals(Buffer.from(pattern(n, i))), `${n} bytes intact`);
    }
  });

  test('a burst arrives complete, each datagram its own copy', async ({ pair: { a, b } }) => {
    const got = collect(b);
    const n = 200;
    for (let i = 0; i < n; i++) {
      const m = new Uint8Array(64);
      new DataView(m.buffer).setUint32(0, i);
      a.send(m, b.local);
    }
    await until(() => got.length === n, `${n} datagrams`);
    const ids = got.map((g) => new DataView(g.bytes.buffer, g.bytes.byteOffset).getUint32(0)).sort((x, y) => x - y);
    assert.equal(ids, Array.from({ length: n }, (_, i) => i));
    // The handler owns its bytes: later datagrams did not overwrite earlier ones.
    assert.ok(got.every((g) => g.bytes.length === 64));
  });

  test('bad sends are counted drops, never exceptions', async ({ pair: { a, b } }) => {
    const got = collect(b);
    const ok = Uint8Array.of(1);
    const bad: [unknown, unknown][] = [
      [new Uint8Array(0), b.local],
      [new Uint8Array(opts.maxPayload + 1), b.local],
      ['text', b.local],
      [null, b.local],
      [ok, null],
      [ok, { host: 'not-an-address', port: b.local.port }],
      [ok, { host: '', port: b.local.port }],
      [ok, { host: 42, port: b.local.port }],
    ];
    if (opts.ports) bad.push([ok, { host: b.local.host, port: 0 }], [ok, { host: b.local.host, port: 70000 }], [ok, { host: b.local.host, port: 1.5 }]);
    for (const [bytes, to] of bad) a.send(bytes as Uint8Array, to as Endpoint);
    assert.is(a.counters.txDropped, bad.length);
    assert.is(a.counters.txPackets, 0);
    // The port still works.
    a.send(ok, b.local);
    await until(() => got.length === 1, 'a good datagram after the bad ones');
  });

  test('a throwing handler is counted and the port keeps delivering', async ({ pair: { a, b } }) => {
    let calls = 0;
    b.onDatagram(() => {
      calls++;
      if (calls === 1) throw new Error('handler bug');
    });
    a.send(Uint8Array.of(1), b.local);
    a.send(Uint8Array.of(2), b.local);
    await until(() => calls === 2, 'both datagrams reached the handler');
    assert.is(b.counters.handlerErrors, 1);
    assert.is(b.counters.rxPackets, 2);
  });

  test('datagrams before a handler is set are counted drops; a replaced handler takes over', async ({ pair: { a, b } }) => {
    a.send(Uint8Array.of(1), b.local);
    await until(() => b.counters.rxDropped === 1, 'the unhandled datagram');
    const first: number[] = [];
    const second: number[] = [];
    b.onDatagram((bytes) => first.push(bytes[0]));
    a.send(Uint8Array.of(2), b.local);
    await until(() => first.length === 1, 'the first handler');
    b.onDatagram((bytes) => second.push(bytes[0]));
    a.send(Uint8Array.of(3), b.local);
    await until(() => second.length === 1, 'the second handler');
    assert.equal([first, second], [[2], [3]]);
  });

  test('close: idempotent, stops delivery, later sends are counted drops', async ({ pair: { a, b } }) => {
    const got = collect(b);
    await b.close();
    await b.close();
    a.send(Uint8Array.of(1), b.local);
    b.send(Uint8Array.of(1), a.local);
    assert.is(b.counters.txDropped, 1);
    // Something sent to the closed port after it closed is never delivered: a
    // datagram sent now to a still-open port (a itself) marks the time.
    const atA = collect(a);
    a.send(Uint8Array.of(9), a.local);
    await until(() => atA.length === 1, 'a marker datagram');
    assert.is(got.length, 0);
  });

  test.run();
}
