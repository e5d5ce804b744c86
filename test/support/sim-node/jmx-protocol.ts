import { createConnection } from 'node:net';
import { jmxEndpoint } from './layout.js';

/**
 * The management channel between nodetool (and the test API) and the daemon, standing in for JMX:
 * one newline-terminated JSON request per connection, one JSON response. A refused connection is
 * what nodetool reports as "Failed to connect to '127.0.0.1:7199'".
 */
export interface Request {
  op: string;
  args?: Record<string, unknown>;
}

/** A Java exception raised by the server; `badUse` marks the ones nodetool reports with exit code 1. */
export interface RemoteFailure {
  javaClass: string;
  message: string;
  frames: readonly string[];
  badUse: boolean;
}

export type Response = { ok: true; result: unknown } | { ok: false; failure: RemoteFailure };

export class NodeUnreachableError extends Error {}

export class RemoteJavaError extends Error {
  constructor(readonly failure: RemoteFailure) {
    super(failure.message);
  }
}

export interface KeyspaceSummary {
  name: string;
  replication: Record<string, string>;
}

/** What status, info, ring, describecluster and version print. */
export interface NodeInfo {
  hostId: string;
  tokens: string[];
  loadBytes: number;
  clusterName: string;
  partitioner: string;
  snitch: string;
  listenAddress: string;
  storagePort: number;
  gossipActive: boolean;
  nativeTransportActive: boolean;
  generation: number;
  uptimeSeconds: number;
  heapUsedMb: number;
  heapMaxMb: number;
  dataCenter: string;
  rack: string;
  schemaVersion: string;
  releaseVersion: string;
  keyspaces: KeyspaceSummary[];
  incrementalBackups: boolean;
  keyCacheEntries: number;
  keyCacheHits: number;
  keyCacheRequests: number;
}

/** Waits 5 s for the connection (not for the operation, which may flush GiBs). */
export async function callNode(root: string, request: Request): Promise<unknown> {
  const endpoint = jmxEndpoint(root);
  const response = await new Promise<Response>((resolve, reject) => {
    const socket = createConnection({ path: endpoint });
    const chunks: Buffer[] = [];
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NodeUnreachableError(`management endpoint of ${root}: connect timed out`));
    }, 5000);
    socket.on('connect', () => {
      connected = true;
      clearTimeout(timer);
      socket.end(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!connected) reject(new NodeUnreachableError(`management endpoint of ${root}: ${err.code ?? err.message}`));
      else reject(new Error(`management call ${request.op} on ${root} failed: ${err.message}`, { cause: err }));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!connected) return;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') {
        reject(new Error(`management call ${request.op} on ${root}: the node closed the connection without answering`));
        return;
      }
      try {
        resolve(JSON.parse(text) as Response);
      } catch (err) {
        reject(new Error(`management call ${request.op} on ${root}: unreadable answer`, { cause: err }));
      }
    });
  });
  if (!response.ok) throw new RemoteJavaError(response.failure);
  return response.result;
}
