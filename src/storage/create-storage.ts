import type { AgentConfig, ConfigKey } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import { createLocalStorage } from './local-storage.js';
import { createSwiftStorage } from './swift-storage.js';
import type { Storage } from './storage.js';

/** The backend named by storage_strategy. */
export function createStorage(config: AgentConfig): Storage {
  switch (config.storage_strategy) {
    case 'local':
      return createLocalStorage({ path: config.backup_local_path });
    case 'swift':
      requireKeys(config, ['swift_auth_url', 'swift_user', 'swift_key']);
      return createSwiftStorage({
        authUrl: config.swift_auth_url,
        user: config.swift_user,
        key: config.swift_key,
        container: config.backup_swift_container,
        segmentSize: config.backup_segment_max_size,
      });
  }
}

function requireKeys(config: AgentConfig, keys: ConfigKey[]): void {
  const missing = keys.filter((key) => config[key] === '');
  if (missing.length > 0) {
    throw new ConfigError(`storage_strategy is ${config.storage_strategy} but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  }
}
