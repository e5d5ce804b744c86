import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError, errorMessage } from '../errors.js';

export interface MetricsServer {
  /** Where it listens, as host:port (the port the system chose when metrics_listen said 0). */
  address: string;
  close(): Promise<void>;
}

/** `host:port` of metrics_listen; an IPv6 host in brackets. */
export function parseListenAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65_535) throw new ConfigError(`metrics_listen: '${value}' is not host:port (e.g. 127.0.0.1:9464)`);
  return { host: (match[1] ?? match[2])!, port };
}

/**
 * Serves `GET /metrics` in Prometheus' text format, nothing else. Scrapes
 * are read-only and cheap (the registry is in memory), so there is no auth:
 * bind it where only the scraper reaches (the default is off).
 */
export async function startMetricsServer(listen: string, registry: Registry): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(listen);
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: unknown) => response.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${errorMessage(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ConfigError(`metrics_listen ${listen}: cannot listen: ${errorMessage(err)}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
