import { defineBackend } from './backend-descriptor.js';
import { LOCAL_LIMITS, createLocalStorage } from './local-storage.js';

/** A directory on this host (local-storage.ts): the default, with nothing to set up. */
export const localBackend = defineBackend({
  name: 'local',
  keys: {
    backup_local_path: { type: { kind: 'string' }, default: '/var/lib/cassandra-guest-agent/backups' },
  },
  limits: LOCAL_LIMITS,
  create: (settings) => createLocalStorage({ path: settings.backup_local_path }),
});
