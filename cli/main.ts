// `switchback <command>`: one binary, subcommands loaded lazily so that
// `switchback ctl ...` does not pay for the agent's native modules.
import { SwitchbackError } from '../common/errors.js';
import { commands } from './commands.js';

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: switchback <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `switchback <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`switchback: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** The reason on stderr (one line per problem), exit code by error family: 2 for bad input, 1 otherwise. */
export function reportError(err: unknown): number {
  if (err instanceof SwitchbackError) {
    // One line per problem (a YAML file may have several), each prefixed.
    process.stderr.write(err.message.split('\n').map((l) => `switchback: ${l}\n`).join(''));
    return err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e?.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    process.stderr.write(`switchback: ${e.message}\n`);
    return 2;
  }
  process.stderr.write(`switchback: ${e?.message ?? String(err)}\n`);
  return 1;
}
