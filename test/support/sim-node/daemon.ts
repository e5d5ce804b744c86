import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { nodeLayout, ROOT_ENV } from './layout.js';
import { serveJmx } from './jmx-server.js';
import type { NodeRuntime } from './node-runtime.js';
import { readSimSettings } from './sim-settings.js';
import { StartupFailure } from './startup-checks.js';
import { startNode } from './startup.js';
import { startNativeTransport } from './native-transport.js';
import { roleRow } from './system-rows.js';
import { SystemLog } from './system-log.js';
import { DEFAULT_SUPERUSER_HASH } from './system-keyspaces.js';

/**
 * The simulated Cassandra process (what `cassandra -p <pidfile>` runs). Started detached by
 * bin/cassandra-service with stdout/stderr appended to logs/system.log; exits 143 on SIGTERM after
 * flushing, like the JVM's shutdown hook.
 */
const root = process.argv[2] ?? process.env[ROOT_ENV];
if (!root) {
  process.stderr.write(`usage: daemon.js <cassandra home> (or ${ROOT_ENV})\n`);
  process.exit(1);
}
const layout = nodeLayout(root);

/** CassandraRoleManager.setupDefaultRole: only when no role exists at all (hasExistingRoles). */
async function createDefaultSuperuser(runtime: NodeRuntime, log: SystemLog): Promise<void> {
  const roles = runtime.engine.systemTable('system_auth', 'roles');
  if ((await runtime.engine.rows(roles)).size > 0) return;
  const row = roleRow(runtime.engine.nextTimestamp(), { role: 'cassandra', can_login: true, is_superuser: true, member_of: null, salted_hash: DEFAULT_SUPERUSER_HASH });
  await runtime.engine.write(roles, 96, [row]);
  log.info('CassandraRoleManager.java:338', "Created default superuser role 'cassandra'", 'OptionalTasks:1');
}

async function main(): Promise<void> {
  await mkdir(layout.logDir, { recursive: true });
  await mkdir(layout.runDir, { recursive: true });
  await writeFile(layout.pidFile, `${process.pid}\n`);
  const log = new SystemLog(layout.systemLog);
  let runtime: NodeRuntime | undefined;
  let stopping = false;

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (!runtime) process.exit(143);
    const running = runtime;
    void running
      .serialize(() => running.shutdown())
      .catch((err: unknown) => log.error('StorageService.java:1747', `Error during shutdown: ${(err as Error).message}`, [], 'StorageServiceShutdownHook'))
      .finally(() => process.exit(143));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  try {
    runtime = await startNode({ layout, settings: await readSimSettings(layout.settingsFile), log });
  } catch (err) {
    if (err instanceof StartupFailure) process.exit(err.exitCode);
    log.error('CassandraDaemon.java:803', 'Exception encountered during startup', [String((err as Error).stack ?? err)]);
    process.exit(3);
  }
  if (stopping) return;

  try {
    await serveJmx(layout.root, runtime, log);
  } catch (err) {
    log.error('CassandraDaemon.java:803', 'Exception encountered during startup', [
      `java.lang.RuntimeException: Unable to create thrift socket to localhost/127.0.0.1:7199: Port already in use: 7199 (${(err as Error).message})`,
    ]);
    process.exit(3);
  }
  const { rpcAddress, nativeTransportPort } = runtime.config;
  log.info('NativeTransportService.java:68', 'Netty using native Epoll event loop');
  log.info('PipelineConfigurator.java:125', `Starting listening for CQL clients on /${rpcAddress}:${nativeTransportPort} (unencrypted)...`);
  try {
    runtime.attachNativeTransport(await startNativeTransport(runtime, log));
  } catch (err) {
    // Server.start: a failed bind is an IllegalStateException, fatal in CassandraDaemon.activate (exit 3).
    log.error('CassandraDaemon.java:803', 'Exception encountered during startup', [
      `java.lang.IllegalStateException: Failed to bind port ${nativeTransportPort} on ${rpcAddress}.`,
      '\tat org.apache.cassandra.transport.Server.start(Server.java:140)',
      '\tat org.apache.cassandra.service.NativeTransportService.start(NativeTransportService.java:128)',
      '\tat org.apache.cassandra.service.CassandraDaemon.startClientTransports(CassandraDaemon.java:735)',
      '\tat org.apache.cassandra.service.CassandraDaemon.start(CassandraDaemon.java:697)',
      '\tat org.apache.cassandra.service.CassandraDaemon.activate(CassandraDaemon.java:779)',
      '\tat org.apache.cassandra.service.CassandraDaemon.main(CassandraDaemon.java:887)',
      `Caused by: io.netty.channel.unix.Errors$NativeIoException: bind(..) failed: ${(err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'Address already in use' : (err as Error).message}`,
    ]);
    process.exit(3);
  }
  log.info('CassandraDaemon.java:780', 'Startup complete');

  // The default superuser appears ~0.2 s after start-up completes (CassandraRoleManager setup delay).
  const started = runtime;
  setTimeout(() => void started.serialize(() => createDefaultSuperuser(started, log)).catch(() => undefined), 200);

  // A node whose home directory was deleted (a test cleaned up without stopping it) ends itself.
  setInterval(() => {
    if (!existsSync(layout.confDir)) process.exit(0);
  }, 2000).unref();
}

void main();
