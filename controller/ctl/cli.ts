// `switchback ctl <command>`: the NOC engineer's client of the admin API.
// Human-readable tables by default, --json for machines; exit code non-zero
// with a one-line reason on any error.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { invalid, SwitchbackError } from '../../common/errors.js';
import { AdminState, OperState, SiteKind, Action } from '../../common/model.js';
import type { JournalEntry } from '../../proto/gen/switchback/v1/admin.js';
import { renderTable } from '../../cli/table.js';
import { BUNDLE_KIND, writeBundleFile } from '../../common/bundle.js';
import { DEFAULT_ADMIN_ADDRESS } from '../config.js';
import { clientTlsFrom, CREDENTIAL_KIND, writeCredentialFile } from '../../common/admin-credential-file.js';
import { parseRole } from '../northbound/admin-roles.js';
import { AdminClient } from './admin-client.js';

const help = `usage: switchback ctl [--controller HOST:PORT] [--credential FILE | --cert F --key F --ca F] [--json] <command> [args]

commands:
  topology                 sites, gateways, links and prefixes
  routes <gateway>         primary and backup path of every prefix, with costs
  links                    every link: cost, admin and operational state, RTT, loss
  tables                   every gateway's table version and acknowledged version
  drain <link> [--reason TEXT]
  undrain <link>
  apply <topology.yaml> [--dry-run]
  export [--output FILE]   the stored topology as YAML that apply accepts
  events [--after SEQ] [--limit N] [--follow]
  enroll <gateway> [--out FILE] [--days N]
                           issue a key and certificate; writes the agent's bundle
                           (owner-only; default <gateway>.bundle.json)
  revoke <gateway>         refuse the gateway's certificates and NATS credentials;
                           closes its open session; its links get new keys at once
  rotate-keys [link...]    rotate the tunnel keys of these links (none: all links),
                           make-before-break: no packet is lost
  agents                   every gateway: held vs current version, transport,
                           last seen, in sync
  nats-config [--out FILE] nats-server authorization for the enrolled gateways
  whoami                   the name and role the admin API sees for this caller
  credential issue <name> --role viewer|operator|admin [--days N] [--out FILE]
                           a key and certificate for a person or tool (admin only);
                           writes a credential file (owner-only; default <name>.credential.json)
  credential revoke <name> refuse every credential issued to <name>
  whatif [--pairs] [--top N]
                           the simulator's failure sweep on the live topology,
                           worst first (as \`switchback whatif\`)

--controller defaults to ${DEFAULT_ADMIN_ADDRESS} (the local controller).
An admin API with TLS needs a credential: --credential FILE (from the controller's
data directory on first start, or \`ctl credential issue\`), or --cert/--key/--ca,
or the file named by SWITCHBACK_CREDENTIAL. Plain text works on loopback only.`;

const options = {
  controller: { type: 'string', default: DEFAULT_ADMIN_ADDRESS },
  json: { type: 'boolean', default: false },
  reason: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  output: { type: 'string', short: 'o' },
  after: { type: 'string' },
  limit: { type: 'string' },
  follow: { type: 'boolean', short: 'f', default: false },
  out: { type: 'string' },
  days: { type: 'string' },
  pairs: { type: 'boolean', default: false },
  top: { type: 'string' },
  credential: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  role: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  const [cmd, ...args] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(help + '\n');
    return values.help ? 0 : 2;
  }
  const credential = values.credential ?? (values.cert || values.key || values.ca ? undefined : process.env.SWITCHBACK_CREDENTIAL || undefined);
  const tls = clientTlsFrom({ credential, cert: values.cert, key: values.key, ca: values.ca });
  const client = new AdminClient(values.controller, { tls });
  const out = (human: string, machine: unknown) => process.stdout.write(values.json ? JSON.stringify(machine, jsonBuffers, 2) + '\n' : human);
  try {
    switch (cmd) {
      case 'topology': {
        const { topology: t } = await client.call('getTopology', {});
        if (!t) throw new SwitchbackError('INTERNAL', 'empty answer');
        const gws = (site: string) => t.gateways.filter((g) => g.siteId === site).map((g) => g.id).join(',');
        const pfx = (site: string) => t.prefixes.filter((p) => p.siteId === site).map((p) => `${p.vrf}:${p.cidr}`).join(' ');
        out(
          renderTable(['SITE', 'KIND', 'REGION', 'GATEWAYS', 'PREFIXES'], t.sites.map((s) => [s.id, kindName(s.kind), s.region, gws(s.id), pfx(s.id)])) +
            '\n' +
            renderTable(['LINK', 'A', 'B', 'COST', 'ADMIN', 'OPER'], t.links.map((l) => [l.id, l.a, l.b, l.cost, adminName(l.adminState), operName(l.operState)])),
          t,
        );
        return 0;
      }
      case 'routes': {
        const gw = need(args[0], '<gateway>');
        const r = await client.call('getRoutes', { gatewayId: gw });
        const path = (p?: { gateways: string[]; cost: number }) => (p ? `${p.gateways.join('>')} (${p.cost})` : '-');
        const rows = r.routes.map((x) => [
          x.vrfName,
          x.rule!.prefix,
          x.rule!.destSiteId,
          actionName(x.rule!.action),
          x.primaryPaths.map(path).join(' | ') || '-',
          path(x.backupPath),
        ]);
        out(`routes of ${gw} (table version ${r.version})\n` + renderTable(['VRF', 'PREFIX', 'SITE', 'ACTION', 'PRIMARY', 'BACKUP'], rows), r);
        return 0;
      }
      case 'links': {
        const { links, effectiveCosts } = await client.call('listLinks', {});
        const rows = links.map((l) => [
          l.id, l.a, l.b, effectiveCosts[l.id] !== undefined ? `${effectiveCosts[l.id]} (rtt; ${l.cost} set)` : l.cost, adminName(l.adminState), operName(l.operState),
          l.rttUs ? `${(l.rttUs / 1000).toFixed(1)}ms` : '-', l.lossPpm ? `${(l.lossPpm / 1e4).toFixed(2)}%` : '-',
          l.changedUnixMs ? new Date(l.changedUnixMs).toISOString() : '-',
        ]);
        out(renderTable(['LINK', 'A', 'B', 'COST', 'ADMIN', 'OPER', 'RTT', 'LOSS', 'CHANGED'], rows), links);
        return 0;
      }
      case 'tables': {
        const r = await client.call('listTables', {});
        const rows = r.tables.map((t) => [t.gatewayId, t.version, t.ackedVersion || '-', t.ackedVersion === t.version ? 'yes' : 'no', t.ruleCount]);
        out(`controller epoch ${r.epoch}\n` + renderTable(['GATEWAY', 'VERSION', 'ACKED', 'IN SYNC', 'RULES'], rows), r);
        return 0;
      }
      case 'drain':
      case 'undrain': {
        const id = need(args[0], '<link>');
        const r = cmd === 'drain' ? await client.call('drainLink', { id, reason: values.reason ?? '' }) : await client.call('undrainLink', { id });
        out(`${cmd}ed ${id} (journal #${r.journalSeq})\n`, r);
        return 0;
      }
      case 'apply': {
        const file = need(args[0], '<topology.yaml>');
        const yaml = readText(file);
        const r = await client.call('applyTopology', { yaml, source: file, dryRun: values['dry-run'] });
        const head = r.changes.length === 0 ? 'no changes\n' : `${values['dry-run'] ? 'would apply' : 'applied'} ${r.changes.length} change(s)${r.journalSeq ? ` (journal #${r.journalSeq})` : ''}:\n`;
        out(head + r.changes.map((c) => `  ${c}\n`).join(''), r);
        return 0;
      }
      case 'export': {
        const { yaml } = await client.call('exportTopology', {});
        if (values.output) writeFileSync(values.output, yaml);
        else process.stdout.write(yaml);
        return 0;
      }
      case 'whatif': {
        // The live topology, with operational state (a drained or down link
        // is already out of the baseline), swept by the simulator's code.
        const { topology } = await client.call('getTopology', {});
        if (!topology) throw new SwitchbackError('INTERNAL', 'empty answer');
        const top = intOpt(values.top, '--top') ?? 30;
        const { whatIf } = await import('../../sim/whatif.js');
        const { whatIfText } = await import('../../sim/report-text.js');
        const result = whatIf(topology, { pairs: values.pairs });
        out(whatIfText(result, top), result);
        return 0;
      }
      case 'events': {
        const after = intOpt(values.after, '--after') ?? 0;
        const limit = intOpt(values.limit, '--limit') ?? 100;
        const print = (e: JournalEntry) =>
          process.stdout.write(values.json ? JSON.stringify(e) + '\n' : `#${e.seq}  ${new Date(e.atUnixMs).toISOString()}  ${e.actor.padEnd(24)} ${e.action.padEnd(16)} ${e.summary}${e.tables.length ? `  [${e.tables.length} table(s)]` : ''}\n`);
        const { entries } = await client.call('listEvents', { afterSeq: after, limit });
        entries.forEach(print);
        if (!values.follow) return 0;
        const last = entries.at(-1)?.seq ?? after;
        await new Promise<void>((resolve, reject) => {
          const stop = client.watch(last, print, reject);
          process.once('SIGINT', () => {
            stop();
            resolve();
          });
        });
        return 0;
      }
      case 'enroll': {
        const gw = need(args[0], '<gateway>');
        const r = await client.call('enroll', { gatewayId: gw, validityDays: intOpt(values.days, '--days') ?? 0 });
        const file = values.out ?? `${gw}.bundle.json`;
        writeBundleFile(file, {
          kind: BUNDLE_KIND,
          version: 1,
          gatewayId: r.gatewayId,
          controller: { grpc: r.grpcAddresses, nats: r.natsUrls },
          key: r.keyPem,
          cert: r.certPem,
          ca: r.caPem,
          natsSeed: r.natsSeed,
          serial: r.serial,
          notAfter: new Date(r.notAfterUnixMs).toISOString(),
        });
        const info = { gatewayId: r.gatewayId, bundle: file, serial: r.serial, notAfter: new Date(r.notAfterUnixMs).toISOString(), grpc: r.grpcAddresses, nats: r.natsUrls };
        out(`enrolled ${gw}: certificate ${r.serial}, valid until ${info.notAfter}\nbundle written to ${file} (mode 0600): switchback agent --bundle ${file}\n`, info);
        return 0;
      }
      case 'revoke': {
        const gw = need(args[0], '<gateway>');
        const r = await client.call('revoke', { gatewayId: gw });
        out(`revoked ${gw}${r.serials.length ? ` (certificates ${r.serials.join(', ')})` : ''}${r.sessionClosed ? '; its session was closed' : ''}\nregenerate the NATS authorization if the gateway used NATS: switchback ctl nats-config --out FILE\n`, r);
        return 0;
      }
      case 'rotate-keys': {
        const r = await client.call('rotateLinkKeys', { linkIds: args });
        const asked = args.length ? args : undefined;
        const skipped = asked?.filter((id) => !r.linkIds.includes(id)) ?? [];
        out(
          `key rotation started on ${r.linkIds.length} link(s)${r.linkIds.length ? `: ${r.linkIds.join(', ')}` : ''}\n` +
            (skipped.length ? `already rotating: ${skipped.join(', ')}\n` : ''),
          r,
        );
        return 0;
      }
      case 'agents': {
        const r = await client.call('listAgents', {});
        const when = (ms: number) => (ms ? new Date(ms).toISOString() : '-');
        const rows = r.agents.map((a) => [
          a.gatewayId, a.ackedVersion || '-', a.version, a.inSync ? 'yes' : 'no', a.transport || '-', a.connected ? 'yes' : 'no', when(a.lastSeenUnixMs),
          a.revoked ? 'revoked' : a.enrolled ? `until ${when(a.certNotAfterUnixMs).slice(0, 10)}` : '-',
        ]);
        out(`controller epoch ${r.epoch}\n` + renderTable(['GATEWAY', 'HELD', 'CURRENT', 'IN SYNC', 'TRANSPORT', 'CONNECTED', 'LAST SEEN', 'CERTIFICATE'], rows), r);
        return 0;
      }
      case 'whoami': {
        const r = await client.call('whoAmI', {});
        out(`${r.name} (role ${r.role})${tls ? '' : ' over plain-text loopback'}\n`, r);
        return 0;
      }
      case 'credential': {
        const [sub, name] = args;
        if (sub === 'revoke') {
          const n = need(name, '<name>');
          const r = await client.call('revoke', { gatewayId: `user:${n}` });
          out(`revoked the admin credentials of ${n} (certificates ${r.serials.join(', ')})\n`, r);
          return 0;
        }
        if (sub !== 'issue') throw invalid('credential', `unknown subcommand '${sub ?? ''}' (issue or revoke)`);
        const n = need(name, '<name>');
        const role = parseRole(need(values.role, '--role'), '--role');
        const r = await client.call('issueCredential', { name: n, role, validityDays: intOpt(values.days, '--days') ?? 0 });
        const file = values.out ?? `${n}.credential.json`;
        const notAfter = new Date(r.notAfterUnixMs).toISOString();
        writeCredentialFile(file, { kind: CREDENTIAL_KIND, version: 1, name: r.name, role: r.role, key: r.keyPem, cert: r.certPem, ca: r.caPem, serial: r.serial, notAfter });
        out(`issued ${r.role} credential to ${r.name}: certificate ${r.serial}, valid until ${notAfter}\nwritten to ${file} (mode 0600): switchback ctl --credential ${file} whoami\n`, { name: r.name, role: r.role, serial: r.serial, notAfter, file });
        return 0;
      }
      case 'nats-config': {
        const r = await client.call('natsConfig', {});
        if (values.out) {
          writeFileSync(values.out, r.config, { mode: 0o644 });
          out(`wrote ${values.out}: ${r.gatewayUsers} gateway user(s) and the controller; include it in nats-server's config and reload the server\n`, { file: values.out, gatewayUsers: r.gatewayUsers });
        } else process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : r.config);
        return 0;
      }
      default:
        throw invalid('command', `unknown ctl command '${cmd}' (see switchback ctl --help)`);
    }
  } catch (err) {
    // A TLS listener drops a plain-text client before any answer.
    if (!tls && SwitchbackError.is(err, 'UNAVAILABLE')) {
      throw new SwitchbackError('UNAVAILABLE', `${err.message}\n(if the admin API runs TLS, give --credential FILE or set SWITCHBACK_CREDENTIAL)`);
    }
    throw err;
  } finally {
    client.close();
  }
}

function need(v: string | undefined, what: string): string {
  if (!v) throw invalid(what, `missing ${what}`);
  return v;
}

function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw invalid(name, `must be a non-negative integer, got '${v}'`);
  return Number(v);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid('file', `cannot read ${file}: ${(err as Error).message}`);
  }
}

function jsonBuffers(_k: string, v: unknown) {
  return v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? '(bytes)' : v;
}

const kindName = (k: SiteKind) => (k === SiteKind.DATACENTER ? 'datacenter' : k === SiteKind.OFFICE ? 'office' : '?');
const adminName = (a: AdminState) => (a === AdminState.DRAINED ? 'drained' : 'up');
const operName = (o: OperState) => (o === OperState.UP ? 'up' : o === OperState.DOWN ? 'down' : 'unknown');
const actionName = (a: Action) => (a === Action.DELIVER ? 'deliver' : a === Action.FORWARD ? 'forward' : 'drop');
