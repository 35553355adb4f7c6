// Tunnel health: probes, the per-peer state machine, local fast failover.
export { DEFAULT_PROBE_CONFIG, PMTU_MIN_BYTES, resolveProbeConfig, type ProbeConfig } from './probe-config.js';
export { PeerProbe, type PeerFigures, type PeerState, type ProbePayload, type Transition } from './probe-state.js';
export { HealthMonitor, type HealthEvent, type HealthListener, type HealthMonitorOptions, type MonitoredPeer, type PeerStats } from './health-monitor.js';
export { wireLocalFailover, type LocalFailover, type PeerStatePort } from './local-failover.js';
