import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { ANONYMOUS, AuthService, PASSWORD_AUTHENTICATOR_CLASS, type AuthSettings } from './auth.js';
import type { CqlBackend } from './backend.js';
import { CqlError, ErrorCode, notSimulated, ProtocolError } from './errors.js';
import { Executor, type BoundValue, type Plan, type Session } from './executor.js';
import { encodeFrame, FrameError, FrameFlag, FrameReader, Opcode, opcodeName, type Frame } from './frames.js';
import { errorBody, preparedBody, readQueryParameters, resultBody, supportedBody, type QueryParameters } from './messages.js';
import { parseStatement } from './statements.js';
import { BodyReader, BodyWriter } from './wire.js';

/**
 * A CQL native-protocol server (v3 and v4 framing) for tests: what a simulated Cassandra 4.0 node
 * answers to the real cassandra-driver. Negotiation, authentication and errors follow the
 * captured conversations (data/cassandra-4.0/06_proxy_*.log, 05_*.txt); statements go through a
 * small matcher (statements.ts), not a CQL engine. Each connection handles its frames in order,
 * connections run concurrently, and a malformed frame costs at most its connection.
 */
export interface CqlServerOptions {
  /** rpc_address */
  host: string;
  /** native_transport_port */
  port: number;
  auth: AuthSettings;
  backend: CqlBackend;
}

export interface CqlServer {
  /** Stops listening and closes every client connection (drain, shutdown). */
  close(): Promise<void>;
}

interface PreparedStatement {
  plan: Plan;
}

type ConnectionState = 'uninitialized' | 'authentication' | 'ready';

const EVENT_TYPES = ['TOPOLOGY_CHANGE', 'STATUS_CHANGE', 'SCHEMA_CHANGE'];

function unpreparedMessage(id: Buffer): string {
  return (
    `Prepared query with ID ${id.toString('hex')} not found (either the query was not prepared on this host (maybe the host has been restarted?) ` +
    'or you have prepared too many queries and it is being evicted from the internal cache)'
  );
}

class Connection {
  private readonly reader = new FrameReader();
  private state: ConnectionState = 'uninitialized';
  private readonly session: Session = { user: undefined };
  private chain: Promise<void> = Promise.resolve();
  /** False once a fatal frame error was seen: nothing after it can be trusted. */
  private reading = true;

  constructor(
    private readonly socket: Socket,
    private readonly server: ServerContext,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  private send(version: number, stream: number, opcode: number, body: Buffer, flags = 0): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(encodeFrame(version, stream, opcode, body, flags));
  }

  private onData(chunk: Buffer): void {
    if (!this.reading) return;
    this.reader.push(chunk);
    for (;;) {
      let frame: Frame | undefined;
      try {
        frame = this.reader.next();
      } catch (err) {
        this.frameFailed(err);
        if (!this.reading) return;
        continue;
      }
      if (!frame) return;
      const current = frame;
      // handle() answers every failure itself; the catch only keeps a broken log file or socket from
      // becoming an unhandled rejection, which would end the daemon.
      this.chain = this.chain.then(() => this.handle(current)).catch(() => undefined);
    }
  }

  private frameFailed(err: unknown): void {
    const failure = err instanceof FrameError ? err : new FrameError(new ProtocolError(String((err as Error).message), true), 0);
    const version = failure.error.responseVersion ?? 4;
    // Protocol v6 is beta in Cassandra 4.0: its frames carry USE_BETA (06_proxy_*.log: v=0x86 flags=0x10).
    const flags = version === 6 ? FrameFlag.USE_BETA : 0;
    if (failure.error.fatal) this.reading = false;
    this.chain = this.chain
      .then(() => {
        this.send(version, failure.stream, Opcode.ERROR, errorBody(failure.error), flags);
        if (failure.error.fatal) this.close();
      })
      .catch(() => this.destroy());
  }

  /** Ends the connection once what was written has gone out. */
  close(): void {
    this.reading = false;
    this.socket.destroySoon();
  }

  destroy(): void {
    this.reading = false;
    this.socket.destroy();
  }

  private async handle(frame: Frame): Promise<void> {
    try {
      const reader = new BodyReader(frame.body);
      if (frame.flags & FrameFlag.CUSTOM_PAYLOAD) reader.bytesMap();
      const reply = await this.dispatch(frame, reader);
      this.send(frame.version, frame.stream, reply.opcode, reply.body);
    } catch (err) {
      let error: CqlError;
      if (err instanceof CqlError) {
        error = err;
      } else {
        const message = err instanceof Error ? err.message : String(err);
        error = new CqlError(ErrorCode.SERVER_ERROR, `java.lang.RuntimeException: ${message}`);
        try {
          const channel = `${this.socket.remoteAddress}:${this.socket.remotePort}`;
          this.server.backend.log.error('Message.java:253', `Unexpected exception during request; channel = ${channel}`, [String((err as Error)?.stack ?? err)], 'Native-Transport-Requests-1');
        } catch {
          // The answer matters more than the log line.
        }
      }
      this.send(frame.version, frame.stream, Opcode.ERROR, errorBody(error));
      if (error instanceof ProtocolError && error.fatal) this.close();
    }
  }

  /** ServerConnection.validateNewMessage: which messages each connection state accepts. */
  private checkState(opcode: number): void {
    const name = opcodeName(opcode);
    if (this.state === 'uninitialized' && opcode !== Opcode.STARTUP && opcode !== Opcode.OPTIONS) {
      throw new ProtocolError(`Unexpected message ${name}, expecting STARTUP or OPTIONS`);
    }
    if (this.state === 'authentication' && opcode !== Opcode.AUTH_RESPONSE) {
      throw new ProtocolError(`Unexpected message ${name}, expecting SASL_RESPONSE`);
    }
    if (this.state === 'ready' && opcode === Opcode.STARTUP) throw new ProtocolError('Unexpected message STARTUP, the connection is already initialized');
  }

  private async dispatch(frame: Frame, reader: BodyReader): Promise<{ opcode: number; body: Buffer }> {
    this.checkState(frame.opcode);
    switch (frame.opcode) {
      case Opcode.OPTIONS:
        return { opcode: Opcode.SUPPORTED, body: supportedBody() };
      case Opcode.STARTUP:
        return this.startup(reader);
      case Opcode.AUTH_RESPONSE:
        return this.authResponse(reader);
      case Opcode.REGISTER: {
        for (const type of reader.stringList()) {
          if (!EVENT_TYPES.includes(type)) throw new ProtocolError(`Invalid value '${type}' for Type`);
        }
        return { opcode: Opcode.READY, body: Buffer.alloc(0) };
      }
      case Opcode.QUERY: {
        const query = reader.longString();
        const params = readQueryParameters(reader, frame.version);
        const plan = await this.server.executor.plan(parseStatement(query));
        return this.run(plan, params);
      }
      case Opcode.PREPARE: {
        const query = reader.longString();
        const plan = await this.server.executor.plan(parseStatement(query));
        // QueryProcessor.computeId: MD5 of the keyspace in use (never one here: USE is not modelled) and the query text.
        const id = createHash('md5').update(query).digest();
        this.server.prepared.set(id.toString('hex'), { plan });
        return { opcode: Opcode.RESULT, body: preparedBody(id, plan, frame.version) };
      }
      case Opcode.EXECUTE: {
        const id = reader.shortBytes();
        const params = readQueryParameters(reader, frame.version);
        const prepared = this.server.prepared.get(id.toString('hex'));
        if (!prepared) throw new CqlError(ErrorCode.UNPREPARED, unpreparedMessage(id), { unpreparedId: id });
        return this.run(prepared.plan, params);
      }
      case Opcode.BATCH:
        throw new CqlError(ErrorCode.SERVER_ERROR, 'not supported by the simulated Cassandra node: BATCH');
      default:
        throw new ProtocolError(`Unexpected message ${opcodeName(frame.opcode)}`);
    }
  }

  private startup(reader: BodyReader): { opcode: number; body: Buffer } {
    const options = reader.stringMap();
    const cqlVersion = options.get('CQL_VERSION');
    if (cqlVersion === undefined) throw new ProtocolError('Missing value CQL_VERSION in STARTUP message');
    const major = Number(/^(\d+)\./.exec(cqlVersion)?.[1]);
    if (Number.isNaN(major)) throw new ProtocolError(`Invalid version value: ${cqlVersion}`);
    if (major < 3) throw new ProtocolError(`CQL version ${cqlVersion} is not supported by the binary protocol (supported version are >= 3.0.0)`);
    const compression = options.get('COMPRESSION');
    if (compression !== undefined) {
      const known = ['snappy', 'lz4'].includes(compression.toLowerCase());
      throw new ProtocolError(known ? `not supported by the simulated Cassandra node: ${compression} compression` : `Unknown compression algorithm: ${compression}`);
    }
    if (this.server.auth.requireAuthentication) {
      this.state = 'authentication';
      return { opcode: Opcode.AUTHENTICATE, body: new BodyWriter().string(PASSWORD_AUTHENTICATOR_CLASS).build() };
    }
    this.state = 'ready';
    this.session.user = ANONYMOUS;
    return { opcode: Opcode.READY, body: Buffer.alloc(0) };
  }

  private async authResponse(reader: BodyReader): Promise<{ opcode: number; body: Buffer }> {
    if (!this.server.auth.requireAuthentication) throw new ProtocolError('Unexpected message AUTH_RESPONSE: the node does not require authentication');
    const token = reader.bytes() ?? Buffer.alloc(0);
    const user = await this.server.auth.login(token);
    this.session.user = user;
    this.state = 'ready';
    return { opcode: Opcode.AUTH_SUCCESS, body: new BodyWriter().bytes(null).build() };
  }

  private async run(plan: Plan, params: QueryParameters): Promise<{ opcode: number; body: Buffer }> {
    if (params.names) throw notSimulated('values bound by name');
    const values: BoundValue[] = params.values;
    if (values.length !== plan.bindSpecs.length) {
      throw new CqlError(ErrorCode.INVALID, `There were ${plan.bindSpecs.length} markers(?) in CQL but ${values.length} bound variables`);
    }
    const result = await plan.run(values, this.session);
    return { opcode: Opcode.RESULT, body: resultBody(result, params.skipMetadata && result.kind === 'rows' && plan.resultColumns !== undefined) };
  }
}

interface ServerContext {
  backend: CqlBackend;
  auth: AuthService;
  executor: Executor;
  /** Prepared statements are global to the node (and forgotten when it restarts). */
  prepared: Map<string, PreparedStatement>;
}

export async function startCqlServer(options: CqlServerOptions): Promise<CqlServer> {
  const auth = new AuthService(options.auth, options.backend);
  const context: ServerContext = { backend: options.backend, auth, executor: new Executor(options.backend, auth), prepared: new Map() };
  const connections = new Set<Connection>();
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    const connection = new Connection(socket, context);
    connections.add(connection);
    socket.on('close', () => connections.delete(connection));
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of connections) c.destroy();
      });
      return closing;
    },
  };
}
