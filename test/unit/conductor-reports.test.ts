import { expect } from 'chai';
import { classifyReport } from '../../src/control/conductor-reports.js';
import type { ConductorCast } from '../../src/rpc/oslo-message.js';

const updateBackup = (args: Record<string, unknown>, encrypted: { instanceId: string } | undefined): ConductorCast => ({
  method: 'update_backup',
  args: { instance_id: 'inst-1', backup_id: 'b-1', sent: 1_700_000_000.5, state: 'COMPLETED', ...args },
  context: {},
  instanceId: encrypted?.instanceId,
  uniqueId: undefined,
  encrypted: encrypted !== undefined,
});
const keyed = (id: string) => id === 'inst-1';

describe('conductor reports the control plane believes', () => {
  it('takes a report encrypted with the instance key', () => {
    expect(classifyReport(updateBackup({}, { instanceId: 'inst-1' }), keyed)).to.include({ kind: 'backup', instanceId: 'inst-1', backupId: 'b-1', state: 'COMPLETED' });
  });

  it('drops a plaintext report about an instance that has a key, as a forgery', () => {
    expect(classifyReport(updateBackup({}, undefined), keyed)).to.deep.equal({
      kind: 'invalid',
      reason: 'a plaintext update_backup about instance inst-1, which has an RPC key: only reports encrypted with its key are accepted (a forgery, or an agent without instance_rpc_encr_key?)',
    });
    const heartbeat: ConductorCast = { method: 'heartbeat', args: { instance_id: 'inst-1', payload: { service_status: 'healthy' } }, context: {}, instanceId: undefined, uniqueId: undefined, encrypted: false };
    expect(classifyReport(heartbeat, keyed).kind).to.equal('invalid');
  });

  it('takes a plaintext report about an instance without a key (plaintext RPC)', () => {
    expect(classifyReport(updateBackup({ instance_id: 'inst-2' }, undefined), keyed)).to.include({ kind: 'backup', instanceId: 'inst-2' });
  });

  it('refuses a backup id that is not one where it arrives, so it never reaches the state', () => {
    const report = classifyReport(updateBackup({ backup_id: '../../../../etc/passwd' }, { instanceId: 'inst-1' }), keyed);
    expect(report).to.deep.equal({
      kind: 'invalid',
      reason: 'update_backup of "../../../../etc/passwd": not a backup id (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 characters)',
    });
  });
});
