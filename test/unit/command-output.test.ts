import { expect } from 'chai';
import { explainingLines, runCommand } from '../../src/cassandra/command.js';

describe('what a failed command is quoted by', () => {
  it("quotes Cassandra's last ERROR line and its exception, not the INFO lines of the shutdown after it", () => {
    const log = [
      'INFO  [main] 2026-12-03 13:34:30,100 StorageService.java:957 - Starting up server gossip',
      'ERROR [main] 2026-12-03 13:34:32,681 CassandraDaemon.java:909 - Exception encountered during startup',
      'java.lang.RuntimeException: Unable to gossip with any peers',
      '\tat org.apache.cassandra.gms.Gossiper.doShadowRound(Gossiper.java:1773)',
      '\tat org.apache.cassandra.service.StorageService.checkForEndpointCollision(StorageService.java:648)',
      'INFO  [StorageServiceShutdownHook] 2026-12-03 13:34:36,983 HintsService.java:220 - Paused hints dispatch',
      'INFO  [StorageServiceShutdownHook] 2026-12-03 13:34:36,990 Gossiper.java:1960 - Announcing shutdown',
    ].join('\n');
    expect(explainingLines(log)).to.deep.equal([
      'ERROR [main] 2026-12-03 13:34:32,681 CassandraDaemon.java:909 - Exception encountered during startup',
      'java.lang.RuntimeException: Unable to gossip with any peers',
    ]);
  });

  it("quotes nodetool's error line and not its stack trace", () => {
    const stderr = 'error: Snapshot b1 already exists.\n-- StackTrace --\njava.io.IOException: Snapshot b1 already exists.\n\tat org.apache.cassandra.service.StorageService.takeSnapshot(StorageService.java:3950)\n';
    expect(explainingLines(stderr)).to.deep.equal(['error: Snapshot b1 already exists.', 'java.io.IOException: Snapshot b1 already exists.']);
  });

  it('quotes the last two lines of output that names no error', () => {
    expect(explainingLines('starting\nJob for cassandra.service failed because the control process exited with error code.\nSee "systemctl status cassandra.service" for details.\n')).to.deep.equal([
      'Job for cassandra.service failed because the control process exited with error code.',
      'See "systemctl status cassandra.service" for details.',
    ]);
  });

  it('gives a failed command the explaining lines of its stderr', async () => {
    const result = await runCommand(['sh', '-c', 'printf "ERROR [main] x - Fatal configuration error\\norg.apache.cassandra.exceptions.ConfigurationException: /127.0.0.1:7000 is in use by another process.\\nINFO  [main] y - bye\\n" >&2; exit 3'], 10);
    expect(result.exitCode).to.equal(3);
    expect(result.output).to.equal('ERROR [main] x - Fatal configuration error / org.apache.cassandra.exceptions.ConfigurationException: /127.0.0.1:7000 is in use by another process.');
  });
});
