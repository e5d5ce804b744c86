import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';

/**
 * `corrupt`: forward the request with its first body byte flipped (same
 * length), so the server stores or refuses other bytes than were sent.
 * A number: answer with that status without forwarding.
 */
export type Fault = 'corrupt' | number;

export interface FaultRule {
  method: string;
  /** Matched against the request's path and query, as sent (URL-encoded). */
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default 1). */
  times?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The status the client got. */
  status: number;
  fault?: Fault;
}

export interface FaultyProxy {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  seen: ProxiedRequest[];
  inject(rule: FaultRule): void;
  close(): Promise<void>;
}

/** Flips the first byte that passes through. */
function flipFirstByte(): Transform {
  let flipped = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!flipped && chunk.length > 0) {
        flipped = true;
        const copy = Buffer.from(chunk);
        copy[0] = copy[0]! ^ 0xff;
        callback(null, copy);
        return;
      }
      callback(null, chunk);
    },
  });
}

/**
 * An HTTP proxy in front of the test Swift that records every request and
 * injects the faults it is told to. The Host header is passed on as it
 * came, so Swift's tempauth hands out storage URLs through the proxy and
 * every later request goes through it too.
 */
export async function startFaultyProxy(target = 'http://127.0.0.1:8080'): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const rules: (FaultRule & { left: number })[] = [];
  const seen: ProxiedRequest[] = [];

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const rule = rules.find((r) => r.left > 0 && r.method === method && r.path.test(path));
    if (rule) rule.left -= 1;
    const fault = rule?.fault;

    if (typeof fault === 'number') {
      // Read the whole body first, as a server that fails after receiving it.
      req.resume();
      req.on('end', () => {
        seen.push({ method, path, status: fault, fault });
        res.writeHead(fault, { 'Content-Type': 'text/plain' });
        res.end(`fault injected by the test proxy: HTTP ${fault}\n`);
      });
      return;
    }

    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method, path, headers: req.headers },
      (answer) => {
        seen.push({ method, path, status: answer.statusCode ?? 0, ...(fault ? { fault } : {}) });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (err) => {
      seen.push({ method, path, status: 502 });
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`test proxy: ${err.message}\n`);
    });
    (fault === 'corrupt' ? req.pipe(flipFirstByte()) : req).pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    inject(rule: FaultRule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
