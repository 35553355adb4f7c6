// `switchback controller`: runs the NOC controller until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { checkAddress, checkNatsUrl, defaultConfig, parseAdminTls, DEFAULT_HTTP_ADDRESS, DEFAULT_SOUTHBOUND_ADDRESS, loadControllerConfig, type ControllerConfig } from './config.js';
import { startController } from './main.js';

const help = `usage: switchback controller [--config controller.yaml] [--data-dir DIR] [--listen HOST:PORT] [--no-bootstrap]
                             [--southbound HOST:PORT] [--advertise HOST:PORT]... [--insecure] [--nats URL]...
                             [--http HOST:PORT|off] [--admin-tls auto|required|off]

Runs the controller. With no options it keeps its LMDB store in ./data,
serves the admin API on 127.0.0.1:7600, agents (gRPC, mutual TLS with
certificates from \`switchback ctl enroll\`) on 127.0.0.1:7601 and, when the
store is empty, loads examples/topology.yaml.

  --southbound HOST:PORT  agents' gRPC listener (port 0 when --listen has port 0)
  --http HOST:PORT|off    metrics, health and the NOC dashboard (default 127.0.0.1:7680;
                          port 0 when --listen has port 0)
  --admin-tls MODE        admin API transport: auto (default; TLS with client
                          certificates from the controller CA when --listen is
                          beyond loopback, plain text on loopback), required
                          (TLS also on loopback), off (plain text: loopback only).
                          The first TLS start writes an admin credential to
                          <data-dir>/admin.credential.json (mode 0600)
  --advertise HOST:PORT   controller address written into enrollment bundles
  --insecure              plain-text southbound gRPC, gateway named by its Hello
                          (local tests only: nothing authenticates the agents)
  --nats URL              also serve agents over NATS (JetStream needed for the
                          tables bucket); authorization: \`switchback ctl nats-config\``;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      listen: { type: 'string' },
      'no-bootstrap': { type: 'boolean' },
      southbound: { type: 'string' },
      advertise: { type: 'string', multiple: true },
      insecure: { type: 'boolean' },
      nats: { type: 'string', multiple: true },
      http: { type: 'string' },
      'admin-tls': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help + '\n');
    return 0;
  }
  let cfg: ControllerConfig = values.config ? loadControllerConfig(values.config) : defaultConfig();
  if (values['data-dir']) cfg = { ...cfg, dataDir: resolve(values['data-dir']) };
  if (values.listen) {
    checkAddress(values.listen, '--listen');
    cfg = { ...cfg, adminListen: values.listen };
    // An ephemeral admin port (tests, several controllers on one host)
    // implies an ephemeral southbound port unless one is given.
    if (values.listen.endsWith(':0') && !values.southbound && cfg.southboundListen === DEFAULT_SOUTHBOUND_ADDRESS) {
      cfg = { ...cfg, southboundListen: `${values.listen.slice(0, values.listen.lastIndexOf(':'))}:0` };
    }
  }
  if (values.listen?.endsWith(':0') && !values.http && cfg.httpListen === DEFAULT_HTTP_ADDRESS) {
    cfg = { ...cfg, httpListen: `${values.listen.slice(0, values.listen.lastIndexOf(':'))}:0` };
  }
  if (values.http) {
    if (values.http !== 'off') checkAddress(values.http, '--http');
    cfg = { ...cfg, httpListen: values.http === 'off' ? undefined : values.http };
  }
  if (values.southbound) {
    checkAddress(values.southbound, '--southbound');
    cfg = { ...cfg, southboundListen: values.southbound };
  }
  if (values.advertise) {
    for (const a of values.advertise) checkAddress(a, '--advertise');
    cfg = { ...cfg, southboundAdvertise: values.advertise };
  }
  if (values.insecure) cfg = { ...cfg, southboundInsecure: true };
  if (values.nats) {
    for (const u of values.nats) checkNatsUrl(u, '--nats');
    cfg = { ...cfg, natsUrls: values.nats };
  }
  if (values['no-bootstrap']) cfg = { ...cfg, bootstrapTopology: undefined };
  if (values['admin-tls']) cfg = { ...cfg, adminTls: parseAdminTls(values['admin-tls'], '--admin-tls') };
  const running = await startController(cfg);
  process.stdout.write(
    [
      `switchback controller (epoch ${running.controller.epoch})`,
      `  admin API   ${running.adminAddress}   ${
        running.adminTls
          ? `(mutual TLS: switchback ctl --controller ${running.adminAddress} --credential FILE topology)`
          : `(plain text, loopback only: switchback ctl --controller ${running.adminAddress} topology)`
      }`,
      ...(running.initialCredential ? [`  credential  ${running.initialCredential}   (first admin credential, role admin; keep it safe)`] : []),
      `  southbound  ${running.southbound.grpcAddress ? `grpc ${running.southbound.grpcAddress} (${cfg.southboundInsecure ? 'PLAIN TEXT, --insecure' : 'mutual TLS'})` : 'grpc off'}`,
      ...(cfg.natsUrls?.length ? [`  nats        ${cfg.natsUrls.join(', ')}`] : []),
      `  dashboard   ${running.http ? `${running.http.url}   (metrics ${running.http.url}metrics)` : 'off'}`,
      `  data        ${cfg.dataDir}`,
      '',
    ].join('\n'),
  );
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      process.stdout.write(`\n${sig}: shutting down\n`);
      running.close().then(done, done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
