import { expect } from 'chai';
import yaml from 'js-yaml';
import { localOnlyStart } from '../../src/cassandra/local-only-yaml.js';

const operatorYaml = `# the operator's file
cluster_name: 'prod-eu'
listen_address: 127.0.0.2
storage_port: 7010
rpc_interface: eth0
broadcast_rpc_address: 203.0.113.9
native_transport_port: 9042
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "10.0.0.1:7000,10.0.0.2:7000"
data_file_directories:
  - /var/lib/cassandra/data
`;

describe('the local-only start of a restore', () => {
  it("keeps the node's own storage address, makes it its only seed, and serves CQL without authentication on 127.0.0.1 at a port of its own", async () => {
    const start = await localOnlyStart(operatorYaml, '/etc/cassandra/cassandra.yaml', 'Source Cluster');
    const doc = yaml.load(start.yamlText) as Record<string, unknown>;
    expect(doc).to.include({
      cluster_name: 'Source Cluster',
      listen_address: '127.0.0.2',
      storage_port: 7010,
      rpc_address: '127.0.0.1',
      authenticator: 'AllowAllAuthenticator',
      authorizer: 'AllowAllAuthorizer',
      start_native_transport: true,
    });
    expect(doc.native_transport_port).to.equal(start.cqlPort).and.not.equal(9042);
    expect(doc).not.to.have.any.keys('rpc_interface', 'broadcast_rpc_address');
    expect(doc.seed_provider).to.deep.equal([{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: '127.0.0.2:7010' }] }]);
    expect(doc.data_file_directories).to.deep.equal(['/var/lib/cassandra/data']);
    expect(start).to.include({ cqlHost: '127.0.0.1', seed: '127.0.0.2:7010' });
  });

  it('takes the default storage port 7000 when cassandra.yaml sets none', async () => {
    const start = await localOnlyStart("cluster_name: 'a'\nlisten_address: 10.1.2.3\n", 'cassandra.yaml', 'a');
    expect(start.seed).to.equal('10.1.2.3:7000');
  });

  it('refuses a cassandra.yaml that is not a mapping', async () => {
    const refused = await localOnlyStart('- a\n- b\n', '/etc/cassandra/cassandra.yaml', 'x').then(() => 'accepted', (err: Error) => err.message);
    expect(refused).to.equal('/etc/cassandra/cassandra.yaml is not a YAML mapping; fix it before restoring');
  });
});
