import type { AgentConfig } from '../config/config-schema.js';
import { createLocalStorage } from './local-storage.js';
import type { Storage } from './storage.js';

/** The backend named by storage_strategy. */
export function createStorage(config: AgentConfig): Storage {
  switch (config.storage_strategy) {
    case 'local':
      return createLocalStorage({ path: config.backup_local_path });
  }
}
