import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import cassandra from 'cassandra-driver';
import { expect } from 'chai';
import { execa } from 'execa';
import { Opcode } from '../support/cql-server/frames.js';
import { errorOf, executeBody, queryBody, rawLogin, RawCqlConnection, rowsOf, startupBody } from '../support/cql-server/raw-client.js';
import { BodyReader, BodyWriter } from '../support/cql-server/wire.js';
import { cassandraFactsDir } from '../support/repo-paths.js';
import { createSimNode, stopAllSimNodes, type SimNode, type SimNodeOptions } from '../support/sim-node/index.js';

const fact = (name: string): string => readFileSync(path.join(cassandraFactsDir(), name), 'utf8');
/** The proxy of the captured conversations listened here; our nodes listen elsewhere. */
const CAPTURED_CONTACT = '127.0.0.1:19042';
const SMALL: SimNodeOptions['tables'] = [{ keyspace: 'shop', table: 'orders', sstables: 1, bytes: 2_000 }];
const FAST_START = 20;
const AUTH_CACHE_MS = 2_500;

const TYPE_NAMES: Record<number, string> = { 1: 'ascii', 2: 'bigint', 3: 'blob', 4: 'boolean', 9: 'int', 12: 'uuid', 13: 'varchar', 16: 'inet', 32: 'list', 33: 'map', 34: 'set' };

interface DriverType {
  code: number;
  info?: DriverType | DriverType[] | null;
}

function typeText(type: DriverType): string {
  const name = TYPE_NAMES[type.code] ?? `code ${type.code}`;
  if (Array.isArray(type.info)) return `${name}<${type.info.map(typeText).join(',')}>`;
  if (type.info) return `${name}<${typeText(type.info)}>`;
  return name;
}

/** `ks.table.column:type` entries of the `columns:` line that follows the captured query. */
function capturedColumns(log: string, query: string): string[] {
  const after = log.slice(log.indexOf(`query="${query}"`));
  const line = /columns: (.*)/.exec(after)?.[1] ?? '';
  return line.trim().split(', ');
}

function client(node: SimNode, credentials?: { username: string; password: string }): cassandra.Client {
  return new cassandra.Client({ contactPoints: [node.cqlContactPoint], localDataCenter: 'datacenter1', ...(credentials ? { credentials } : {}) });
}

async function withClient<T>(node: SimNode, credentials: { username: string; password: string } | undefined, use: (c: cassandra.Client) => Promise<T>): Promise<T> {
  const c = client(node, credentials);
  try {
    await c.connect();
    return await use(c);
  } finally {
    await c.shutdown();
  }
}

async function connectError(node: SimNode, credentials?: { username: string; password: string }): Promise<cassandra.errors.NoHostAvailableError> {
  const c = client(node, credentials);
  try {
    await c.connect();
  } catch (err) {
    return err as cassandra.errors.NoHostAvailableError;
  } finally {
    await c.shutdown();
  }
  throw new Error('the driver connected');
}

async function responseError(c: cassandra.Client, query: string): Promise<{ code: number; message: string }> {
  try {
    await c.execute(query);
  } catch (err) {
    const e = err as cassandra.errors.ResponseError;
    return { code: e.code, message: e.message };
  }
  throw new Error(`${query} succeeded`);
}

async function setYaml(node: SimNode, key: string, value: string): Promise<void> {
  const text = await readFile(node.cassandraYaml, 'utf8');
  await writeFile(node.cassandraYaml, text.replace(new RegExp(`^${key}: .*$`, 'm'), `${key}: ${value}`));
}

async function service(command: string[]): Promise<{ exitCode: number; stderr: string }> {
  const [file, ...args] = command as [string, ...string[]];
  const result = await execa(file, args, { reject: false, timeout: 60_000 });
  return { exitCode: result.exitCode ?? -1, stderr: result.stderr };
}

/** Retries until `check` passes, as a client of a real node must around cache expiry. */
async function eventually(check: () => Promise<unknown>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/** A `$2a$` hash, the only kind jBCrypt (and so Cassandra) accepts; bcryptjs makes `$2b$` by default. */
function hash2a(password: string): string {
  return bcrypt.hashSync(password, bcrypt.genSaltSync(10).replace(/^\$2b\$/, '$2a$'));
}

const INCORRECT = (user: string): string => `Provided username ${user} and/or password are incorrect`;

describe('CQL native protocol of the simulated Cassandra node', function () {
  this.timeout(60_000);
  let base: string;

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'cql-server-'));
    await chmod(base, 0o755);
  });

  after(async () => {
    await stopAllSimNodes();
    await rm(base, { recursive: true, force: true });
  });

  describe('under AllowAllAuthenticator', () => {
    let node: SimNode;

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'allow-all'), seed: 101, startupDelayMs: FAST_START, tables: SMALL });
      await node.start();
    });

    it('lets the driver connect with its default options, negotiating down to protocol v4 as Cassandra 4.0 makes it', async () => {
      const events: string[] = [];
      const c = client(node);
      c.on('log', (level: string, className: string, message: string) => {
        if (level === 'info') events.push(`info ${className}: ${message}`);
      });
      await c.connect();
      await c.shutdown();
      const captured = (fact('06_proxy_default.log').split('######## driver log events:\n')[1] ?? '')
        .trim()
        .split('\n')
        .map((l) => l.replaceAll(CAPTURED_CONTACT, node.cqlContactPoint));
      expect(events).to.deep.equal(captured);
    });

    it("answers SELECT * FROM system.local with Cassandra 4.0's 20 columns and this node's host id, tokens and names", async () => {
      const result = await withClient(node, undefined, (c) => c.execute("SELECT * FROM system.local WHERE key='local'"));
      const columns = result.columns.map((col) => `system.local.${col.name}:${typeText(col.type as DriverType)}`);
      expect(columns).to.deep.equal(capturedColumns(fact('06_proxy_default.log'), "SELECT * FROM system.local WHERE key='local'"));
      const row = result.first();
      const info = (await node.nodetool(['info'])).stdout;
      const savedTokens = /Using saved tokens \[(.*)\]$/m.exec(await readFile(node.systemLog, 'utf8'))?.[1]?.split(', ') ?? [];
      expect(row['host_id'].toString()).to.equal(/^ID\s+: (\S+)$/m.exec(info)?.[1]);
      expect([...(row['tokens'] as string[])].sort()).to.deep.equal([...savedTokens].sort());
      expect(row['tokens']).to.have.length(16);
      expect(row['cluster_name']).to.equal('Test Cluster');
      expect(row['data_center']).to.equal('datacenter1');
      expect(row['rack']).to.equal('rack1');
      expect(row['release_version']).to.equal('4.0-rc1-SNAPSHOT');
      expect(row['partitioner']).to.equal('org.apache.cassandra.dht.Murmur3Partitioner');
      expect(row['rpc_port']).to.equal(node.nativeTransportPort);
      expect(row['bootstrapped']).to.equal('COMPLETED');
      expect(row['native_protocol_version']).to.equal('5');
    });

    it('speaks the captured conversation frame for frame: version error, READY, SUPPORTED, peers, keyspaces, REGISTER', async () => {
      const log = fact('06_proxy_default.log');
      const lengthOf = (reply: string): number => Number(new RegExp(`S>C [^\\n]*${reply} len=(\\d+)`).exec(log)?.[1]);
      const rowsLength = (table: string): number => Number(new RegExp(`RESULT len=(\\d+) kind="Rows" [^\\n]*global=${table}\\}`).exec(log)?.[1]);
      const [host, port] = [node.cqlContactPoint.split(':')[0] as string, node.nativeTransportPort];
      const startup = startupBody({ CQL_VERSION: '3.0.0', DRIVER_NAME: 'Apache Cassandra Node.js Driver', DRIVER_VERSION: '4.10.0', CLIENT_ID: 'fb0c6315-2a4b-4028-b2b3-06ccf5fda59c' });

      const dse = await RawCqlConnection.open(host, port);
      const refused = await dse.request(0x42, 0, Opcode.STARTUP, startup);
      dse.close();
      expect([refused.versionByte, refused.flags, refused.stream, refused.opcode]).to.deep.equal([0x86, 0x10, 0, Opcode.ERROR]);
      expect(refused.body.length).to.equal(lengthOf('ERROR'));
      expect(errorOf(refused)).to.deep.equal({ code: 0x000a, message: 'Invalid or unsupported protocol version (66); supported versions are (3/v3, 4/v4, 5/v5, 6/v6-beta)' });

      const v4 = await RawCqlConnection.open(host, port);
      try {
        const ready = await v4.request(4, 0, Opcode.STARTUP, startup);
        expect([ready.versionByte, ready.flags, ready.opcode, ready.body.length]).to.deep.equal([0x84, 0, Opcode.READY, 0]);
        const supported = await v4.request(4, 0, Opcode.OPTIONS);
        expect(supported.opcode).to.equal(Opcode.SUPPORTED);
        expect(supported.body.length).to.equal(lengthOf('SUPPORTED'));
        const reader = new BodyReader(supported.body);
        const multimap: Record<string, string[]> = {};
        for (let i = reader.short(); i > 0; i -= 1) multimap[reader.string()] = reader.stringList();
        expect(JSON.stringify(multimap)).to.equal(/SUPPORTED len=\d+ options=(\{.*\})/.exec(log)?.[1]);

        const peers = await v4.request(4, 0, Opcode.QUERY, queryBody('SELECT * FROM system.peers'));
        expect(peers.body.length).to.equal(rowsLength('system.peers'));
        expect(rowsOf(peers).columns.map((c) => `system.peers.${c.name}`)).to.deep.equal(capturedColumns(log, 'SELECT * FROM system.peers').map((c) => c.split(':')[0]));

        // The driver pipelines these two on streams 1 and 0; each answer carries its own stream.
        v4.send(4, 1, Opcode.QUERY, queryBody('SELECT * FROM system_schema.keyspaces'));
        v4.send(4, 0, Opcode.QUERY, queryBody('SELECT * FROM system_virtual_schema.keyspaces'));
        const answers = [await v4.next(), await v4.next()];
        const schema = answers.find((a) => a.stream === 1);
        const virtual = answers.find((a) => a.stream === 0);
        if (!schema || !virtual) throw new Error('an answer went to the wrong stream');
        expect(virtual.body.length).to.equal(rowsLength('system_virtual_schema.keyspaces'));
        expect(rowsOf(virtual).rows.map((r) => r[0]?.toString())).to.deep.equal(['system_views', 'system_virtual_schema']);
        // Same keyspaces as the captured node (system ones plus shop): same bytes, same token order.
        expect(schema.body.length).to.equal(rowsLength('system_schema.keyspaces'));
        const capturedOrder = [...log.matchAll(/\{"keyspace_name":"(\w+)","durable_writes"/g)].map((m) => m[1]);
        expect(rowsOf(schema).rows.map((r) => r[0]?.toString())).to.deep.equal(capturedOrder.slice(0, 6));

        const registered = await v4.request(4, 1, Opcode.REGISTER, new BodyWriter().stringList(['TOPOLOGY_CHANGE', 'STATUS_CHANGE', 'SCHEMA_CHANGE']).build());
        expect([registered.opcode, registered.stream, registered.body.length]).to.deep.equal([Opcode.READY, 1, 0]);
      } finally {
        v4.close();
      }
    });

    it('prepares statements with the bind metadata Cassandra sends, and asks for an unknown id to be prepared again', async () => {
      const query = 'UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?';
      const connection = await RawCqlConnection.open('127.0.0.1', node.nativeTransportPort);
      try {
        await connection.request(4, 0, Opcode.STARTUP, startupBody());
        const prepared = await connection.request(4, 3, Opcode.PREPARE, new BodyWriter().longString(query).build());
        const r = new BodyReader(prepared.body);
        expect(r.int(), 'kind Prepared').to.equal(4);
        const id = r.shortBytes();
        expect(id.toString('hex')).to.equal(createHash('md5').update(query).digest('hex'));
        expect([r.int(), r.int(), r.int(), r.short()], 'flags, bind count, pk count, pk index').to.deep.equal([1, 2, 1, 1]);
        expect([r.string(), r.string(), r.string(), r.short(), r.string(), r.short()]).to.deep.equal(['system_auth', 'roles', 'salted_hash', 0x0d, 'role', 0x0d]);
        expect([r.int(), r.int()], 'result metadata: NO_METADATA, 0 columns').to.deep.equal([4, 0]);

        const unknown = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
        const answer = await connection.request(4, 4, Opcode.EXECUTE, executeBody(unknown, []));
        const error = new BodyReader(answer.body);
        expect([error.int(), error.string()]).to.deep.equal([
          0x2500,
          'Prepared query with ID 00112233445566778899aabbccddeeff not found (either the query was not prepared on this host (maybe the host has been restarted?) or you have prepared too many queries and it is being evicted from the internal cache)',
        ]);
        expect(error.shortBytes()).to.deep.equal(unknown);
      } finally {
        connection.close();
      }
      const rows = await withClient(node, undefined, (c) => c.execute('SELECT role, can_login FROM system_auth.roles WHERE role = ?', ['cassandra'], { prepare: true }));
      expect(rows.rows.map((row) => [row['role'], row['can_login']])).to.deep.equal([['cassandra', true]]);
    });

    it('answers protocol v3 clients too, without the partition-key indexes v4 added to Prepared', async () => {
      const v3 = await RawCqlConnection.open('127.0.0.1', node.nativeTransportPort);
      try {
        const ready = await v3.request(3, 0, Opcode.STARTUP, startupBody());
        expect([ready.versionByte, ready.opcode]).to.deep.equal([0x83, Opcode.READY]);
        const local = rowsOf(await v3.request(3, 1, Opcode.QUERY, queryBody("SELECT release_version FROM system.local WHERE key = 'local'")));
        expect(local.rows.map((r) => r[0]?.toString())).to.deep.equal(['4.0-rc1-SNAPSHOT']);
        const prepared = new BodyReader((await v3.request(3, 2, Opcode.PREPARE, new BodyWriter().longString('SELECT role FROM system_auth.roles WHERE role = ?').build())).body);
        prepared.int();
        prepared.shortBytes();
        expect([prepared.int(), prepared.int(), prepared.string()], 'flags, bind count, then the table spec').to.deep.equal([1, 1, 'system_auth']);
      } finally {
        v3.close();
      }
    });

    it("answers unknown keyspaces, tables, columns and bad syntax with Cassandra's codes and texts", async () => {
      await withClient(node, undefined, async (c) => {
        expect(await responseError(c, 'SELECT * FROM nosuchks.t')).to.deep.equal({ code: 0x2200, message: 'keyspace nosuchks does not exist' });
        expect(await responseError(c, 'SELECT * FROM system.nosuch')).to.deep.equal({ code: 0x2200, message: 'unconfigured table nosuch' });
        expect(await responseError(c, 'SELECT nosuch FROM system.local')).to.deep.equal({ code: 0x2200, message: 'Undefined column name nosuch' });
        expect(await responseError(c, 'SELECT * FROM local')).to.deep.equal({ code: 0x2200, message: 'No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename' });
        expect(await responseError(c, 'SELEC * FROM system.local')).to.deep.equal({ code: 0x2000, message: "line 1:0 no viable alternative at input 'SELEC' ([SELEC]...)" });
        const listRoles = /ERR: LIST ROLES => ResponseError \| code (\d+) \| (.*)$/m.exec(fact('05_allowall_update_hashes.txt'));
        expect(await responseError(c, 'LIST ROLES')).to.deep.equal({ code: Number(listRoles?.[1]), message: listRoles?.[2] });
        expect(await responseError(c, "CREATE ROLE agent WITH PASSWORD = 'x' AND LOGIN = true")).to.deep.equal({
          code: 0x2200,
          message: "org.apache.cassandra.auth.CassandraRoleManager doesn't support PASSWORD",
        });
        const unsupported = await responseError(c, 'SELECT * FROM shop.orders');
        expect(unsupported.code, 'a statement the simulator does not model is a server error saying so').to.equal(0x0000);
        expect(unsupported.message).to.match(/^not supported by the simulated Cassandra node: /);
      });
    });

    it('keeps serving other clients while one sends malformed frames', async () => {
      const bad = await RawCqlConnection.open('127.0.0.1', node.nativeTransportPort);
      const abuse = async (): Promise<void> => {
        const early = await bad.request(4, 5, Opcode.QUERY, queryBody('SELECT * FROM system.local'));
        expect([early.stream, errorOf(early).code, errorOf(early).message]).to.deep.equal([5, 0x000a, 'Unexpected message QUERY, expecting STARTUP or OPTIONS']);
        const unknown = await bad.request(4, 7, 0x42);
        expect([unknown.stream, errorOf(unknown).message]).to.deep.equal([7, 'Unknown opcode 66']);
        await bad.request(4, 0, Opcode.STARTUP, startupBody());
        // A QUERY whose [long string] claims more bytes than the body holds.
        const truncated = await bad.request(4, 9, Opcode.QUERY, Buffer.from([0, 0, 0x10, 0, 0x41]));
        expect([truncated.stream, errorOf(truncated).code]).to.deep.equal([9, 0x000a]);
        expect((await bad.request(4, 10, Opcode.OPTIONS)).opcode, 'the connection survives a bad body').to.equal(Opcode.SUPPORTED);
        bad.writeRaw(Buffer.from([0x09, 0, 0, 11, Opcode.OPTIONS, 0, 0, 0, 0]));
        expect(errorOf(await bad.next()).message).to.match(/^Invalid or unsupported protocol version \(9\)/);
        await bad.waitClosed();
      };
      const polite = async (): Promise<unknown[]> =>
        withClient(node, undefined, async (c) => Promise.all(Array.from({ length: 20 }, async () => (await c.execute('SELECT release_version FROM system.local')).first()['release_version'])));
      const [, versions] = await Promise.all([abuse(), polite()]);
      expect(new Set(versions)).to.deep.equal(new Set(['4.0-rc1-SNAPSHOT']));
      expect(await node.isRunning()).to.equal(true);
    });

    it('stops serving CQL when drained, as nodetool info says, and refuses clients once stopped', async () => {
      const connected = client(node);
      await connected.connect();
      expect((await node.nodetool(['drain'])).exitCode).to.equal(0);
      expect((await node.nodetool(['info'])).stdout).to.match(/^Native Transport active: false$/m);
      const afterDrain = await connectError(node);
      expect(afterDrain).to.be.instanceOf(cassandra.errors.NoHostAvailableError);
      await connected.shutdown();
      await node.stop();
      expect(await connectError(node)).to.be.instanceOf(cassandra.errors.NoHostAvailableError);
    });
  });

  describe('across restarts', () => {
    let node: SimNode;
    const resetHash = hash2a('newpass');

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'restarts'), seed: 102, startupDelayMs: FAST_START, tables: SMALL });
      await node.start();
    });

    it('reads CQL updates of system.local and system_auth.roles back at once; describecluster keeps the running name', async () => {
      await withClient(node, undefined, async (c) => {
        await c.execute("UPDATE system.local SET cluster_name = 'Interim' WHERE key = 'local'");
        expect((await c.execute("SELECT cluster_name FROM system.local WHERE key = 'local'")).first()['cluster_name']).to.equal('Interim');
        await c.execute("UPDATE system.local SET cluster_name = ? WHERE key = 'local'", ['Renamed'], { prepare: true });
        expect((await c.execute('SELECT cluster_name FROM system.local')).first()['cluster_name']).to.equal('Renamed');
        // The offline password reset of 05_allowall_update_hashes.txt, made under AllowAllAuthenticator.
        await c.execute('UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?', [resetHash, 'cassandra'], { prepare: true });
        expect((await c.execute("SELECT salted_hash FROM system_auth.roles WHERE role = 'cassandra'")).first()['salted_hash']).to.equal(resetHash);
      });
      expect((await node.nodetool(['describecluster'])).stdout, 'the running name stays').to.include('\tName: Test Cluster\n');
    });

    it('after drain and stop, refuses the old name (exit 100) and starts under the new one with PasswordAuthenticator and the reset password', async () => {
      expect((await node.nodetool(['drain'])).exitCode).to.equal(0);
      await node.stop();
      const refused = await service(node.serviceStartCommand);
      expect(refused.exitCode).to.equal(100);
      expect(refused.stderr).to.include('org.apache.cassandra.exceptions.ConfigurationException: Saved cluster name Renamed != configured name Test Cluster');
      expect(await node.isRunning()).to.equal(false);

      await setYaml(node, 'cluster_name', "'Renamed'");
      await setYaml(node, 'authenticator', 'PasswordAuthenticator');
      await setYaml(node, 'authorizer', 'CassandraAuthorizer');
      await node.start();
      expect((await node.nodetool(['describecluster'])).stdout).to.include('\tName: Renamed\n');
      const login = (password: string): ReturnType<typeof rawLogin> => rawLogin('127.0.0.1', node.nativeTransportPort, 'cassandra', password);
      expect(await login('newpass')).to.deep.equal({ ok: true });
      expect(await login('cassandra')).to.deep.equal({ ok: false, code: 0x0100, message: INCORRECT('cassandra') });
    });

    it('keeps CQL writes across kill -9 through the commit log, while the start-up check sees only flushed data', async () => {
      const crashHash = hash2a('after-crash');
      await withClient(node, { username: 'cassandra', password: 'newpass' }, async (c) => {
        await c.execute("UPDATE system.local SET cluster_name = 'Unflushed' WHERE key = 'local'");
        await c.execute('UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?', [crashHash, 'cassandra'], { prepare: true });
      });
      await node.kill();
      // cassandra.yaml still says Renamed, the name flushed before: the check passes, then the replay applies the updates.
      await node.start();
      await withClient(node, { username: 'cassandra', password: 'after-crash' }, async (c) => {
        expect((await c.execute('SELECT cluster_name FROM system.local')).first()['cluster_name']).to.equal('Unflushed');
      });
      expect((await node.nodetool(['describecluster'])).stdout).to.include('\tName: Renamed\n');
      await node.stop();
    });

    it('refuses to start when native_transport_port is taken (exit 3)', async () => {
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(node.nativeTransportPort, '127.0.0.1', resolve));
      try {
        // The stop flushed the replayed name: with any other the node would exit 100 before binding.
        await setYaml(node, 'cluster_name', "'Unflushed'");
        const result = await service(node.serviceStartCommand);
        expect(result.exitCode).to.equal(3);
        expect(result.stderr).to.include(`java.lang.IllegalStateException: Failed to bind port ${node.nativeTransportPort} on 127.0.0.1.`);
      } finally {
        await new Promise<void>((resolve) => squatter.close(() => resolve()));
      }
    });
  });

  describe('under PasswordAuthenticator', () => {
    let node: SimNode;
    const superuser = { username: 'cassandra', password: 'cassandra' };
    const login = (user: string, password: string): ReturnType<typeof rawLogin> => rawLogin('127.0.0.1', node.nativeTransportPort, user, password);

    before(async () => {
      node = await createSimNode({ root: path.join(base, 'password'), seed: 103, startupDelayMs: FAST_START, tables: SMALL, authenticator: 'PasswordAuthenticator', authCacheValidityMs: AUTH_CACHE_MS });
      await node.start();
    });

    it("logs in cassandra/cassandra and refuses a wrong password or user with Cassandra's text", async () => {
      const log = fact('06_proxy_auth.log');
      const raw = await RawCqlConnection.open('127.0.0.1', node.nativeTransportPort);
      try {
        const challenge = await raw.request(4, 0, Opcode.STARTUP, startupBody());
        expect([challenge.opcode, challenge.body.length]).to.deep.equal([Opcode.AUTHENTICATE, Number(/AUTHENTICATE len=(\d+)/.exec(log)?.[1])]);
        expect(new BodyReader(challenge.body).string()).to.equal('org.apache.cassandra.auth.PasswordAuthenticator');
        const token = Buffer.from('\0cassandra\0cassandra');
        const success = await raw.request(4, 1, Opcode.AUTH_RESPONSE, new BodyWriter().bytes(token).build());
        expect([success.opcode, success.stream, success.body.length]).to.deep.equal([Opcode.AUTH_SUCCESS, 1, Number(/AUTH_SUCCESS len=(\d+)/.exec(log)?.[1])]);
        expect(new BodyReader(success.body).bytes(), 'a null token').to.equal(null);
      } finally {
        raw.close();
      }

      const version = await withClient(node, superuser, async (c) => (await c.execute('SELECT release_version FROM system.local')).first()['release_version']);
      expect(version).to.equal('4.0-rc1-SNAPSHOT');
      for (const [username, password] of [['cassandra', 'wrongpass'], ['nosuchuser', 'x']] as const) {
        const err = await connectError(node, { username, password });
        expect(err).to.be.instanceOf(cassandra.errors.NoHostAvailableError);
        const inner = (err.innerErrors as Record<string, Error>)[node.cqlContactPoint];
        expect(inner).to.be.instanceOf(cassandra.errors.AuthenticationError);
        expect(inner?.message).to.equal(INCORRECT(username));
        // As captured (05_auth_basic.txt): the inner error follows, printed with its stack.
        expect(err.message.split('\n')[0]).to.equal(`All host(s) tried for query failed. First host tried, ${node.cqlContactPoint}: AuthenticationError: ${INCORRECT(username)}`);
      }
      const anonymous = await connectError(node);
      expect((anonymous.innerErrors as Record<string, Error>)[node.cqlContactPoint]?.message).to.equal(`Host ${node.cqlContactPoint} requires authentication, but no authenticator found in the options`);
    });

    it('creates an admin role whose new password applies only when the credentials cache expires', async () => {
      const admin = client(node, superuser);
      await admin.connect();
      try {
        await admin.execute("CREATE ROLE IF NOT EXISTS agent_admin WITH PASSWORD = 'first' AND LOGIN = true AND SUPERUSER = true");
        // The first login caches the hash; the change made right after is not seen until the entry expires (05_cache_alter_role.txt).
        expect(await login('agent_admin', 'first')).to.deep.equal({ ok: true });
        await admin.execute("ALTER ROLE agent_admin WITH PASSWORD = 'second'");
        expect(await login('agent_admin', 'first')).to.deep.equal({ ok: true });
        expect(await login('agent_admin', 'second')).to.deep.equal({ ok: false, code: 0x0100, message: INCORRECT('agent_admin') });
        const hashOf = async (): Promise<string> => (await admin.execute("SELECT salted_hash FROM system_auth.roles WHERE role = 'agent_admin'")).first()['salted_hash'] as string;
        const stored = await hashOf();
        expect(stored).to.match(/^\$2a\$10\$[./A-Za-z0-9]{53}$/);
        await admin.execute("CREATE ROLE IF NOT EXISTS agent_admin WITH PASSWORD = 'third' AND LOGIN = true AND SUPERUSER = true");
        expect(await hashOf(), 'IF NOT EXISTS leaves the role alone').to.equal(stored);
      } finally {
        await admin.shutdown();
      }
      await eventually(async () => expect(await login('agent_admin', 'second')).to.deep.equal({ ok: true }));
      expect(await login('agent_admin', 'first')).to.deep.equal({ ok: false, code: 0x0100, message: INCORRECT('agent_admin') });
      // A role may change its own password.
      await withClient(node, { username: 'agent_admin', password: 'second' }, (c) => c.execute("ALTER ROLE agent_admin WITH PASSWORD = 'third'"));
    });

    it('refuses a role that may not log in, and lets only superusers read system_auth.roles', async () => {
      await withClient(node, superuser, async (c) => {
        await c.execute("CREATE ROLE reader WITH PASSWORD = 'r' AND LOGIN = false");
        await c.execute("CREATE ROLE plain WITH PASSWORD = 'p' AND LOGIN = true");
        const all = await c.execute('SELECT * FROM system_auth.roles');
        expect(all.columns.map((col) => `${col.name}:${typeText(col.type as DriverType)}`)).to.deep.equal(['role:varchar', 'can_login:boolean', 'is_superuser:boolean', 'member_of:set<varchar>', 'salted_hash:varchar']);
        expect(all.rows.map((r) => r['role'])).to.include.members(['cassandra', 'reader', 'plain']);
        const listed = await c.execute('LIST ROLES');
        expect(listed.rows.map((r) => r['role'])).to.deep.equal([...listed.rows.map((r) => r['role'] as string)].sort());
        expect(listed.rows.find((r) => r['role'] === 'cassandra')?.['datacenters']).to.equal('ALL');
      });
      expect(await login('reader', 'r')).to.deep.equal({ ok: false, code: 0x0100, message: 'reader is not permitted to log in' });
      await withClient(node, { username: 'plain', password: 'p' }, async (c) => {
        expect((await c.execute('SELECT release_version FROM system.local')).rowLength).to.equal(1);
        expect(await responseError(c, 'SELECT * FROM system_auth.roles')).to.deep.equal({ code: 0x2100, message: 'User plain has no SELECT permission on <table system_auth.roles> or any of its parents' });
        expect(await responseError(c, "UPDATE system.local SET cluster_name = 'x' WHERE key = 'local'")).to.deep.equal({ code: 0x2100, message: 'User plain has no MODIFY permission on <table system.local> or any of its parents' });
      });
    });

    it('rejects $2b$ and $2y$ hashes as jBCrypt does, logging "Invalid salt revision", and accepts the same hash as $2a$', async () => {
      const hash2b = bcrypt.hashSync('pass2b', 10);
      expect(hash2b.startsWith('$2b$10$')).to.equal(true);
      await withClient(node, superuser, async (c) => {
        for (const role of ['user2b', 'user2y']) await c.execute(`CREATE ROLE ${role} WITH PASSWORD = 'unused' AND LOGIN = true`);
        await c.execute('UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?', [hash2b, 'user2b'], { prepare: true });
        await c.execute('UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?', [hash2b.replace('$2b$', '$2y$'), 'user2y'], { prepare: true });
      });
      const logBefore = (await readFile(node.systemLog, 'utf8')).length;
      expect(await login('user2b', 'pass2b')).to.deep.equal({ ok: false, code: 0x0100, message: INCORRECT('user2b') });
      expect(await login('user2y', 'pass2b')).to.deep.equal({ ok: false, code: 0x0100, message: INCORRECT('user2y') });
      const logged = (await readFile(node.systemLog, 'utf8')).slice(logBefore);
      expect(logged.match(/^WARN .* PasswordAuthenticator\.java:\d+ - Error: invalid password hash encountered, rejecting user\njava\.lang\.IllegalArgumentException: Invalid salt revision$/gm)).to.have.length(2);

      await withClient(node, superuser, (c) => c.execute('UPDATE system_auth.roles SET salted_hash = ? WHERE role = ?', [hash2b.replace('$2b$', '$2a$'), 'user2b'], { prepare: true }));
      await eventually(async () => expect(await login('user2b', 'pass2b')).to.deep.equal({ ok: true }));
    });
  });

  describe('on an empty data directory', () => {
    it('creates the default superuser about 0.2 s after start-up completes on an empty data directory', async () => {
      const node = await createSimNode({ root: path.join(base, 'fresh'), seed: 105, startupDelayMs: FAST_START, tables: SMALL, authenticator: 'PasswordAuthenticator' });
      for (const dir of [...node.dataDirs, node.commitlogDir]) await rm(dir, { recursive: true, force: true });
      await node.start();
      await eventually(async () => expect(await rawLogin('127.0.0.1', node.nativeTransportPort, 'cassandra', 'cassandra')).to.deep.equal({ ok: true }));
      const log = await readFile(node.systemLog, 'utf8');
      const at = (pattern: RegExp): number => {
        const stamp = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) /.exec(pattern.exec(log)?.[0] ?? '');
        return new Date((stamp?.[1] ?? '').replace(' ', 'T')).getTime() + Number(stamp?.[2]);
      };
      const complete = at(/^INFO .* CassandraDaemon\.java:780 - Startup complete$/m);
      const created = at(/^INFO .* CassandraRoleManager\.java:\d+ - Created default superuser role 'cassandra'$/m);
      expect(created - complete).to.be.within(150, 2_000);
      await node.stop();
    });
  });
});
