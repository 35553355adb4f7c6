// The NATS bucket's entry of a gateway is a TableSnapshot built from the
// kept encoding in one copy (encodeSnapshotParts over tableParts): it must be
// byte for byte what the generated encoder makes of the stored table.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { tableHash } from '../../common/flow-table.js';
import { encodeSnapshotBytes, encodeSnapshotParts } from '../../common/table-codec.js';
import { Controller } from '../../controller/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { encodeContent, tableBytes, tableParts } from '../../controller/table-encodings.js';
import { TableSnapshot } from '../../proto/gen/switchback/v1/session.js';
import { FLEET_WIDE_LINK, fleetGateways, fleetTopology } from '../helpers/fleet-topology.js';

const snap = suite('snapshot bytes from the kept encoding');

snap('equal the generated encoding of the stored table, for every gateway and after changes', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock() });
  c.applyTopology(fleetTopology(5), 'test');
  for (const step of [() => undefined, () => c.drainLink(FLEET_WIDE_LINK, 'test'), () => c.drainLink('o0002--dc-a', 'test')]) {
    step();
    for (const gw of fleetGateways(5)) {
      const stored = c.store.table(gw)!;
      const e = c.encodedTable(gw)!;
      assert.is(e.version, stored.version);
      const expected = Buffer.from(TableSnapshot.encode({ table: stored, tableHash: tableHash(stored) }).finish());
      assert.ok(e.snapshot().equals(expected), `snapshot of ${gw} at ${stored.version}`);
      assert.ok(encodeSnapshotBytes(e.bytes(), e.hash).equals(expected));
    }
  }
});

snap('parts and joined bytes agree, with and without a hash', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock() });
  c.applyTopology(fleetTopology(2), 'test');
  const enc = encodeContent(c.store.table('dc-a')!);
  const parts = tableParts(enc, 9, 4);
  assert.ok(Buffer.concat(parts).equals(tableBytes(enc, 9, 4)));
  for (const hash of [enc.hash, Buffer.alloc(0)]) {
    assert.ok(encodeSnapshotParts(parts, hash).equals(encodeSnapshotBytes(tableBytes(enc, 9, 4), hash)));
  }
  const decoded = TableSnapshot.decode(encodeSnapshotParts(parts, enc.hash));
  assert.is(decoded.table?.version, 9);
  assert.is(decoded.table?.epoch, 4);
  assert.ok(Buffer.from(decoded.tableHash).equals(enc.hash));
});

snap.run();
