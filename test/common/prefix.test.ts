import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import {
  canonicalPrefix,
  cidrFromBytes,
  formatIp,
  isValidIp,
  isValidPrefix,
  parseIp,
  parsePrefix,
  prefixContains,
} from '../../common/prefix.js';

const prefix = suite('prefix');

/** Asserts fn throws INVALID_ARGUMENT for `field` with every fragment in the message. */
function refuses(fn: () => unknown, field: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (e) {
    assert.ok(SwitchbackError.is(e, 'INVALID_ARGUMENT'), `expected INVALID_ARGUMENT, got ${String(e)}`);
    assert.is(e.field, field);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return;
  }
  assert.unreachable('expected an error');
}

const bytes = (...b: number[]) => Uint8Array.from(b);

prefix('parses IPv4 prefixes', () => {
  const c = parsePrefix('10.0.0.0/8');
  assert.is(c.family, 4);
  assert.is(c.length, 8);
  assert.equal(c.bytes, bytes(10, 0, 0, 0));
  assert.is(c.text, '10.0.0.0/8');
  assert.ok(Object.isFrozen(c));
  assert.is(parsePrefix('0.0.0.0/0').text, '0.0.0.0/0');
  assert.is(parsePrefix('255.255.255.255/32').text, '255.255.255.255/32');
  assert.is(parsePrefix('192.168.1.128/25').text, '192.168.1.128/25');
});

prefix('parses IPv6 prefixes and writes them per RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:DB8::/32', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0000/32', '2001:db8::/32'],
    ['::/0', '::/0'],
    ['::1/128', '::1/128'],
    ['fe80:0:0:0:0:0:0:0/10', 'fe80::/10'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'], // first of two equal runs
    ['1:0:0:2:0:0:0:3/128', '1:0:0:2::3/128'], // the longer run
    ['2001:db8:0:1:1:1:1:1/128', '2001:db8:0:1:1:1:1:1/128'], // a single zero group stays
    ['1:2:3:4:5:6:7::/128', '1:2:3:4:5:6:7:0/128'],
    ['::ffff:10.1.2.0/120', '::ffff:10.1.2.0/120'], // IPv4-mapped keeps dotted form
    ['::ffff:a01:200/120', '::ffff:10.1.2.0/120'],
    ['::1.2.3.4/128', '::102:304/128'], // only the mapped range is written dotted
    ['1:2:3:4:5:6:1.2.3.4/128', '1:2:3:4:5:6:102:304/128'],
  ];
  for (const [input, canonical] of cases) assert.is(canonicalPrefix(input), canonical, input);
  const c = parsePrefix('2001:db8::/32');
  assert.is(c.family, 6);
  assert.equal(c.bytes, bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
});

prefix('refuses the listed bad prefixes with a message naming the problem', () => {
  refuses(() => parsePrefix('10.0.0.0/33'), 'prefix', "'10.0.0.0/33'", 'prefix length 33 is out of range for IPv4 (0-32)');
  refuses(() => parsePrefix('300.1.1.1/8'), 'prefix', '300 is out of range', '0-255');
  refuses(() => parsePrefix('::/129'), 'prefix', 'prefix length 129 is out of range for IPv6 (0-128)');
  refuses(() => parsePrefix('1.2.3/24'), 'prefix', '4 dot-separated numbers', 'has 3');
  refuses(() => parsePrefix('1.2.3.4'), 'prefix', 'prefix length is missing', "write '1.2.3.4/32'");
  refuses(() => parsePrefix('2001:db8::1'), 'prefix', "write '2001:db8::1/128'");
  refuses(() => parsePrefix('abc'), 'prefix', "'abc' is not an IPv4 or IPv6 address");
  refuses(() => parsePrefix('abc/8'), 'prefix', "'abc' is not an IPv4 or IPv6 address");
  refuses(() => parsePrefix(''), 'prefix', 'is empty');
  refuses(() => parsePrefix('1.2.3.4/-1'), 'prefix', "prefix length '-1' is not a number 0-32");
  refuses(() => parsePrefix('1.2.3.0/08'), 'prefix', "'08' has a leading zero", "write '8'");
  refuses(() => parsePrefix(' 10.0.0.0/8'), 'prefix', 'contains whitespace', "write '10.0.0.0/8'");
  refuses(() => parsePrefix('10.0.0.0/8\n'), 'prefix', 'contains whitespace');
  refuses(() => parsePrefix('10.0.0.0 /8'), 'prefix', 'contains whitespace');
});

prefix('refuses other malformed input', () => {
  refuses(() => parsePrefix('10.1.2.3/8'), 'prefix', 'host bits are set', "did you mean '10.0.0.0/8'?");
  refuses(() => parsePrefix('2001:db8::1/32'), 'prefix', "did you mean '2001:db8::/32'?");
  refuses(() => parsePrefix('010.0.0.0/8'), 'prefix', "'010' has a leading zero", 'octal');
  refuses(() => parsePrefix('0x0a.0.0.0/8'), 'prefix', "'0x0a' is not a decimal number");
  refuses(() => parsePrefix('1..2.3/8'), 'prefix', 'an empty part');
  refuses(() => parsePrefix('1.2.3.4/'), 'prefix', 'missing');
  refuses(() => parsePrefix('/8'), 'prefix', 'address is missing');
  refuses(() => parsePrefix('1.2.3.4/8/9'), 'prefix', "more than one '/'");
  refuses(() => parsePrefix('1.2.3.4/+8'), 'prefix', 'is not a number');
  refuses(() => parsePrefix('1.2.3.4/1e1'), 'prefix', 'is not a number');
  refuses(() => parsePrefix('fe80::%eth0/64'), 'prefix', 'zone ids', '%eth0');
  refuses(() => parsePrefix('1::2::/64'), 'prefix', "'::' may appear only once");
  refuses(() => parsePrefix(':::/64'), 'prefix', "'::'");
  refuses(() => parsePrefix('1:2:3:4:5:6:7:8:9/64'), 'prefix', '8 groups', 'found 9');
  refuses(() => parsePrefix('1:2:3:4:5:6:7/64'), 'prefix', '8 groups', 'found 7');
  refuses(() => parsePrefix('1:2:3:4:5:6::7:8/128'), 'prefix', "'::' must stand for at least one zero group");
  refuses(() => parsePrefix('12345::/16'), 'prefix', "'12345' is not a group of 1-4 hex digits");
  refuses(() => parsePrefix(':1:2:3:4:5:6:7/128'), 'prefix', 'empty group');
  refuses(() => parsePrefix('1.2.3.4::/64'), 'prefix', 'embedded IPv4 address may only come last');
  refuses(() => parsePrefix('::1.2.3/128'), 'prefix', '4 dot-separated numbers');
  refuses(() => parsePrefix('a'.repeat(100)), 'prefix', 'too long');
  refuses(() => parsePrefix('10.0.0.0/8\u0000'), 'prefix', '\\u0000');
  refuses(() => parsePrefix(42 as unknown as string), 'prefix', 'must be a string', 'got number');
  refuses(() => parsePrefix(undefined as unknown as string, 'sites[0].prefixes[1]'), 'sites[0].prefixes[1]', 'got undefined');
});

prefix('names the caller-given field', () => {
  refuses(() => parsePrefix('10.0.0.0/33', 'sites[2].prefixes[0]'), 'sites[2].prefixes[0]', 'out of range');
  assert.throws(() => parsePrefix('300.0.0.0/8', 'routes[1]'), (e: Error) => e.message.startsWith("routes[1]: '300.0.0.0/8'"));
});

prefix('parses addresses', () => {
  assert.equal(parseIp('192.0.2.1'), { family: 4, bytes: bytes(192, 0, 2, 1) });
  const v6 = parseIp('::ffff:1.2.3.4');
  assert.is(v6.family, 6);
  assert.equal(v6.bytes, bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4));
  assert.equal(parseIp('1::').bytes, bytes(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  assert.equal(parseIp('::').bytes, new Uint8Array(16));
  refuses(() => parseIp('1.2.3.4/32'), 'address', 'prefix length is not allowed');
  refuses(() => parseIp('fe80::1%eth0'), 'address', 'zone ids');
  refuses(() => parseIp('256.0.0.1'), 'address', '256 is out of range');
  refuses(() => parseIp('', 'peer'), 'peer', 'is empty');
  assert.ok(isValidIp('2001:db8::1'));
  assert.not.ok(isValidIp('2001:db8::1::'));
  assert.not.ok(isValidIp(null));
});

prefix('formats addresses', () => {
  assert.is(formatIp(4, bytes(10, 0, 0, 1)), '10.0.0.1');
  assert.is(formatIp(6, parseIp('0:0:0:0:0:0:0:1').bytes), '::1');
  assert.is(formatIp(6, parseIp('2001:db8:0:0:0:0:2:1').bytes), '2001:db8::2:1');
  assert.is(formatIp(6, parseIp('1:0:0:1:0:0:0:0').bytes), '1:0:0:1::');
  assert.is(formatIp(6, parseIp('ABCD:EF01:2345:6789:ABCD:EF01:2345:6789').bytes), 'abcd:ef01:2345:6789:abcd:ef01:2345:6789');
  assert.is(formatIp(6, parseIp('::ffff:0:0').bytes), '::ffff:0.0.0.0');
  refuses(() => formatIp(4, new Uint8Array(16)), 'address', 'needs 4 bytes');
});

prefix('round-trips canonical text', () => {
  for (const t of ['10.0.0.0/8', '2001:db8::/32', '::ffff:10.1.2.0/120', 'fe80::/10', '2001:db8:0:1:1:1:1:1/128', '::/0']) {
    assert.is(canonicalPrefix(canonicalPrefix(t)), t);
    const c = parsePrefix(t);
    assert.is(cidrFromBytes(c.family, c.bytes, c.length).text, t);
  }
});

prefix('builds a Cidr from bytes, refusing host bits and bad lengths', () => {
  assert.is(cidrFromBytes(4, bytes(192, 168, 0, 0), 16).text, '192.168.0.0/16');
  refuses(() => cidrFromBytes(4, bytes(192, 168, 1, 0), 16), 'prefix', "did you mean '192.168.0.0/16'?");
  refuses(() => cidrFromBytes(4, bytes(1, 2, 3, 0), 33), 'prefix', 'out of range');
  refuses(() => cidrFromBytes(6, bytes(1, 2, 3, 0), 8), 'prefix', 'needs 16 bytes');
});

prefix('prefixContains tests membership bit by bit', () => {
  const c = parsePrefix('10.128.0.0/9');
  assert.ok(prefixContains(c, bytes(10, 128, 0, 0)));
  assert.ok(prefixContains(c, bytes(10, 255, 255, 255)));
  assert.not.ok(prefixContains(c, bytes(10, 127, 255, 255)));
  assert.not.ok(prefixContains(c, bytes(11, 128, 0, 0)));
  assert.not.ok(prefixContains(c, new Uint8Array(16)), 'another family never matches');
  assert.ok(prefixContains(parsePrefix('0.0.0.0/0'), bytes(1, 2, 3, 4)));
  const v6 = parsePrefix('2001:db8:8000::/33');
  assert.ok(prefixContains(v6, parseIp('2001:db8:ffff::1').bytes));
  assert.not.ok(prefixContains(v6, parseIp('2001:db8:7fff::1').bytes));
  assert.ok(prefixContains(parsePrefix('::1/128'), parseIp('::1').bytes));
  assert.not.ok(prefixContains(parsePrefix('::1/128'), parseIp('::2').bytes));
});

prefix('isValidPrefix answers without throwing', () => {
  assert.ok(isValidPrefix('10.0.0.0/8'));
  assert.ok(isValidPrefix('2001:db8::/32'));
  for (const bad of ['10.0.0.0/33', '300.1.1.1/8', '::/129', 'garbage', '', '10.1.0.0/8', null, 7]) {
    assert.not.ok(isValidPrefix(bad), String(bad));
  }
});

prefix.run();
