// What the agent needs of an access port (a TUN device, or an in-memory one
// in tests): packets in, packets out, and the kernel routes that lead the
// site's traffic for remote prefixes into it.

export interface AccessPort {
  readonly name: string;
  /** The kernel routing table its routes go to; undefined = the main table. */
  readonly routeTable?: number;
  onPacket(cb: (packet: Uint8Array) => void): void;
  /**
   * Hands a packet to the site: it may be queued until the end of the
   * current turn of the event loop (a TUN batches its writes); a packet that
   * cannot be written is a counted drop of the port.
   */
  send(packet: Uint8Array): void;
  /** Makes the routes through this port exactly `prefixes`. */
  setRoutes(prefixes: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
