// The subcommand table. Each entry's module exports `run(argv): Promise<number>`
// (the exit code).
export interface CommandModule {
  run(argv: string[]): Promise<number>;
}

export interface Command {
  name: string;
  summary: string;
  load(): Promise<CommandModule>;
}

export const commands: Command[] = [
  { name: 'controller', summary: 'run the NOC controller (LMDB store, admin API, southbound sessions)', load: () => import('../controller/cli.js') },
  { name: 'ctl', summary: 'talk to a running controller: topology, routes, links, drain, apply, export, events', load: () => import('../controller/ctl/cli.js') },
];
