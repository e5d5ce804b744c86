import { createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { JavaException } from './java-exception.js';
import type { RemoteFailure, Request, Response } from './jmx-protocol.js';
import { jmxEndpoint } from './layout.js';
import type { NodeRuntime } from './node-runtime.js';
import type { SystemLog } from './system-log.js';

class BadRequest extends Error {}

function stringArg(args: Record<string, unknown>, name: string, fallback?: string): string {
  const value = args[name] ?? fallback;
  if (typeof value !== 'string') throw new BadRequest(`argument ${name} must be a string`);
  return value;
}

function optionalStringArg(args: Record<string, unknown>, name: string): string | undefined {
  return args[name] === undefined || args[name] === null ? undefined : stringArg(args, name);
}

function stringListArg(args: Record<string, unknown>, name: string): string[] {
  const value = args[name] ?? [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new BadRequest(`argument ${name} must be a list of strings`);
  return value as string[];
}

function boolArg(args: Record<string, unknown>, name: string): boolean {
  const value = args[name] ?? false;
  if (typeof value !== 'boolean') throw new BadRequest(`argument ${name} must be true or false`);
  return value;
}

function numberArg(args: Record<string, unknown>, name: string): number {
  const value = args[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new BadRequest(`argument ${name} must be a non-negative number`);
  return value;
}

type Handler = (runtime: NodeRuntime, args: Record<string, unknown>) => Promise<unknown>;

/** The operations of the StorageService MBean the simulator implements, plus the test API's writes. */
const HANDLERS: Record<string, Handler> = {
  ping: async () => 'pong',
  info: async (rt) => rt.info(),
  takeSnapshot: async (rt, a) => rt.takeSnapshot(stringArg(a, 'tag'), stringListArg(a, 'keyspaces'), boolArg(a, 'skipFlush')),
  takeTableSnapshot: async (rt, a) => rt.takeTableSnapshot(stringArg(a, 'tag'), stringListArg(a, 'entities'), boolArg(a, 'skipFlush')),
  clearSnapshot: async (rt, a) => rt.clearSnapshot(stringArg(a, 'tag', ''), stringListArg(a, 'keyspaces')),
  snapshotDetails: async (rt) => rt.snapshotDetails(),
  flush: async (rt, a) => rt.flush(optionalStringArg(a, 'keyspace'), stringListArg(a, 'tables')),
  compact: async (rt, a) => rt.compact(optionalStringArg(a, 'keyspace'), stringListArg(a, 'tables')),
  drain: async (rt) => rt.drain(),
  setIncrementalBackups: async (rt, a) => rt.setIncrementalBackups(boolArg(a, 'enabled')),
  write: async (rt, a) => rt.write(stringArg(a, 'keyspace'), stringArg(a, 'table'), numberArg(a, 'bytes')),
  updateSavedClusterName: async (rt, a) => rt.updateSavedClusterName(stringArg(a, 'clusterName')),
};

/** Requests that are MBean operations (RMIConnectionImpl.invoke) on a real node; the rest read or set attributes. */
const JMX_OPERATIONS: Record<string, string> = {
  takeSnapshot: 'takeSnapshot',
  takeTableSnapshot: 'takeSnapshot',
  clearSnapshot: 'clearSnapshot',
  flush: 'forceKeyspaceFlush',
  compact: 'forceKeyspaceCompaction',
  drain: 'drain',
};

function toFailure(err: unknown): RemoteFailure {
  if (err instanceof JavaException) return { javaClass: err.javaClass, message: err.message, frames: err.frames, badUse: err.badUse };
  const message = err instanceof Error ? err.message : String(err);
  return { javaClass: 'java.lang.RuntimeException', message, frames: [], badUse: false };
}

async function handle(runtime: NodeRuntime, log: SystemLog, line: string): Promise<Response> {
  let request: Request;
  try {
    request = JSON.parse(line) as Request;
  } catch {
    return { ok: false, failure: { javaClass: 'java.io.IOException', message: 'unreadable management request', frames: [], badUse: false } };
  }
  const operation = JMX_OPERATIONS[request.op];
  if (operation) runtime.noteJmxOperation(operation);
  const handler = HANDLERS[request.op];
  if (!handler) return { ok: false, failure: { javaClass: 'java.lang.UnsupportedOperationException', message: `no operation ${request.op}`, frames: [], badUse: false } };
  try {
    const result = await runtime.serialize(() => handler(runtime, request.args ?? {}));
    return { ok: true, result: result ?? null };
  } catch (err) {
    if (!(err instanceof JavaException)) {
      log.error('CassandraDaemon.java:579', `Exception in thread Thread[RMI TCP Connection(3)-127.0.0.1,5,RMI Runtime]`, [String((err as Error).stack ?? err)]);
    }
    return { ok: false, failure: toFailure(err) };
  }
}

function serve(runtime: NodeRuntime, log: SystemLog, socket: Socket): void {
  let buffer = '';
  let answered = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    const newline = buffer.indexOf('\n');
    if (newline === -1 || answered) return;
    answered = true;
    void handle(runtime, log, buffer.slice(0, newline)).then((response) => {
      if (!socket.destroyed) socket.end(`${JSON.stringify(response)}\n`);
    });
  });
  socket.on('error', () => socket.destroy());
}

/** Opens the management endpoint of a started node (what JMX on 127.0.0.1:7199 is for nodetool). */
export async function serveJmx(root: string, runtime: NodeRuntime, log: SystemLog): Promise<Server> {
  const endpoint = jmxEndpoint(root);
  if (!endpoint.startsWith('\0')) await rm(endpoint, { force: true });
  // allowHalfOpen: the client ends its side after the request and still waits for the answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => serve(runtime, log, socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
