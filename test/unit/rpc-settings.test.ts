import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { amqpUrl, rpcSettings } from '../../src/rpc/rpc-settings.js';
import { withTroveInjectedFiles } from '../../src/agent/trove-injected-files.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../support/temp-dir.js';

describe("the agent's RPC settings", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('rpc-settings');
  });
  afterEach(() => removeDir(dir));

  it("turns oslo's transport_url into the one amqp:// URL amqplib takes", () => {
    expect(amqpUrl('rabbit://guest:s3cret@10.0.0.1:5672/')).to.equal('amqp://guest:s3cret@10.0.0.1:5672');
    expect(amqpUrl('rabbit://u:p@h1:5672,u:p@h2:5672/trove')).to.equal('amqp://u:p@h1:5672/trove');
    expect(amqpUrl('amqps://u:p@h:5671/')).to.equal('amqps://u:p@h:5671');
    expect(() => amqpUrl('http://u:s3cret@h/')).to.throw(ConfigError).that.satisfies((err: Error) => !err.message.includes('s3cret'));
  });

  it("reads guest_id, the RPC key and transport_url from Trove's injected files", async () => {
    const guestInfo = path.join(dir, 'guest_info.conf');
    const agentConf = path.join(dir, 'trove-guestagent.conf');
    await writeFile(guestInfo, '[DEFAULT]\n# injected by the taskmanager\nguest_id=9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f\ndatastore_manager=cassandra\ninstance_rpc_encr_key = k3yForTrovePr0beInstanceRPC00001\n');
    await writeFile(agentConf, '[DEFAULT]\ntransport_url = rabbit://trove:pw@192.0.2.7:5672/\ncontrol_exchange = trove\n[oslo_messaging_rabbit]\nrabbit_ha_queues = true\n');
    const config = await withTroveInjectedFiles(await loadConfig(undefined, { GUEST_AGENT_TROVE_GUEST_INFO_FILE: guestInfo, GUEST_AGENT_TROVE_GUESTAGENT_CONF_FILE: agentConf }));
    const settings = rpcSettings(config);
    expect(settings.instanceId).to.equal('9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f');
    expect(settings.guestTopic).to.equal('guestagent.9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f');
    expect(settings.key).to.not.equal(undefined);
    expect(settings.url).to.equal('amqp://trove:pw@192.0.2.7:5672');
  });

  it('prefers its own transport_url and key to the injected ones, and runs plaintext without a key', async () => {
    const guestInfo = path.join(dir, 'guest_info.conf');
    await writeFile(guestInfo, '[DEFAULT]\nguest_id=g1\n');
    const config = await withTroveInjectedFiles(
      await loadConfig(undefined, { GUEST_AGENT_TROVE_GUEST_INFO_FILE: guestInfo, GUEST_AGENT_TRANSPORT_URL: 'amqp://a:b@127.0.0.1:5672' }),
    );
    const settings = rpcSettings(config);
    expect(settings).to.include({ instanceId: 'g1', url: 'amqp://a:b@127.0.0.1:5672', key: undefined });
  });

  it('says where to find transport_url when it is missing, and names a guest_info.conf without guest_id', async () => {
    const defaults = await loadConfig(undefined, {});
    expect(() => rpcSettings({ ...defaults, transport_url: '' })).to.throw(ConfigError, /transport_url is not set.*trove_guestagent_conf_file/);
    const guestInfo = path.join(dir, 'guest_info.conf');
    await writeFile(guestInfo, '[DEFAULT]\ndatastore_manager=cassandra\n');
    const failure = await withTroveInjectedFiles(await loadConfig(undefined, { GUEST_AGENT_TROVE_GUEST_INFO_FILE: guestInfo })).catch((err: unknown) => err);
    expect(failure).to.be.instanceOf(ConfigError);
    expect((failure as Error).message).to.match(/guest_info.conf \(trove_guest_info_file\) has no guest_id/);
  });
});
