import type { AgentConfig, ConfigKey } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import { createLocalStorage } from './local-storage.js';
import { createS3Storage } from './s3-storage.js';
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
    case 's3':
      requireKeys(config, ['s3_bucket']);
      return createS3Storage({
        bucket: config.s3_bucket,
        region: config.s3_region,
        partSize: config.s3_part_size,
        queueSize: config.s3_queue_size,
        forcePathStyle: config.s3_force_path_style,
        ...(config.s3_prefix ? { prefix: config.s3_prefix } : {}),
        ...(config.s3_endpoint ? { endpoint: config.s3_endpoint } : {}),
        ...(config.s3_access_key ? { accessKeyId: config.s3_access_key, secretAccessKey: config.s3_secret_key } : {}),
        ...(config.s3_server_side_encryption ? { serverSideEncryption: config.s3_server_side_encryption } : {}),
        ...(config.s3_sse_kms_key_id ? { sseKmsKeyId: config.s3_sse_kms_key_id } : {}),
        ...(config.s3_storage_class ? { storageClass: config.s3_storage_class } : {}),
      });
  }
}

function requireKeys(config: AgentConfig, keys: ConfigKey[]): void {
  const missing = keys.filter((key) => config[key] === '');
  if (missing.length > 0) {
    throw new ConfigError(`storage_strategy is ${config.storage_strategy} but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  }
}
