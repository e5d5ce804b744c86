import { createServer } from 'node:net';

/**
 * A native_transport_port for a new simulated node. Several nodes (and several test runs) share
 * one host, so each node gets its own port rather than 9042: a node whose port is taken fails to
 * start, as Cassandra does. Ports come from below the Linux ephemeral range (32768+) so that
 * outgoing connections do not take them between the probe and the node's start.
 */
const LOW = 20_000;
const HIGH = 32_767;
/** Where simulated nodes listen (rpc_address, listen_address). */
const HOST = '127.0.0.1';
/** Ports handed out by this process, never handed out twice. */
const given = new Set<number>();

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

export async function pickFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (given.has(port)) continue;
    if (await isFree(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on ${HOST} between ${LOW} and ${HIGH} after 200 attempts`);
}
