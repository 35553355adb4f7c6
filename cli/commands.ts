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
  { name: 'ctl', summary: 'talk to a running controller: topology, routes, links, drain, apply, export, events, enroll, revoke, agents, nats-config', load: () => import('../controller/ctl/cli.js') },
  { name: 'agent', summary: 'run the gateway agent (TUN access, UDP/GRE tunnels, probes, local failover)', load: () => import('../router-agent/cli.js') },
  { name: 'sim', summary: 'run a failover scenario in virtual time with the real controller and agent logic; --generate topologies', load: () => import('../sim/cli.js') },
  { name: 'emulate', summary: 'run a scenario on network namespaces with real agents, controller and nats-server; --compare with the simulator', load: () => import('../emulate/cli.js') },
  { name: 'whatif', summary: 'fail every link, gateway, site and shared-risk group in turn and rank the impact', load: () => import('../sim/whatif-cli.js') },
];
