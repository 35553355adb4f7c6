// @peculiar/x509 resolves its services through tsyringe, which needs the
// Reflect metadata API installed before the library loads: import X.509
// from here, never from the package directly.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
