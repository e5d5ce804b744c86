import type { AgentConfig, ConfigKey } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import { createLocalStorage } from './local-storage.js';
import { lazyStorage } from './lazy-storage.js';
import { checkS3Options, type S3StorageOptions } from './s3-options.js';
import type { SwiftAuthOptions } from './swift-auth.js';
import { createSwiftStorage } from './swift-storage.js';
import type { Storage } from './storage.js';

/**
 * What one request (Trove's RPC context and backup_info) may say about where
 * and as whom to store; null and empty mean "not given", as Trove sends them.
 */
export interface StorageRequest {
  /** backup_info.swift_container: overrides backup_swift_container (created if missing). */
  swiftContainer?: string | null;
  /** The user's Keystone token: used instead of the configured password, never renewed. */
  authToken?: string | null;
  /** The project whose object-store endpoint to use with authToken; the token's own when unset. */
  projectId?: string | null;
  /** Told when the request's token is not used (the store speaks no Keystone): a line for the log. */
  onTokenIgnored?: (why: string) => void;
}

/** The backend named by storage_strategy, for one request when it says more. */
export function createStorage(config: AgentConfig, request: StorageRequest = {}): Storage {
  switch (config.storage_strategy) {
    case 'local':
      return createLocalStorage({ path: config.backup_local_path });
    case 'swift':
      return createSwiftStorage({
        ...swiftAuth(config, request),
        container: request.swiftContainer || config.backup_swift_container,
        segmentSize: config.backup_segment_max_size,
        retryBufferSize: config.swift_retry_buffer_size,
        segmentAttempts: config.swift_segment_attempts,
        uploadConcurrency: config.swift_upload_concurrency,
      });
    case 's3':
      requireKeys(config, ['s3_bucket']);
      return s3Storage({
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

/** Checked now, built (with the AWS SDK) on first use. */
function s3Storage(options: S3StorageOptions): Storage {
  checkS3Options(options);
  return lazyStorage('s3', async () => (await import('./s3-storage.js')).createS3Storage(options));
}

/** A request's token wins over the configured password, as in Trove 18. */
function swiftAuth(config: AgentConfig, request: StorageRequest): SwiftAuthOptions {
  const endpoint = {
    endpointInterface: config.swift_endpoint_interface,
    ...(config.swift_region_name ? { regionName: config.swift_region_name } : {}),
  };
  if (config.swift_auth_version !== 1 && config.swift_auth_version !== 3) {
    throw new ConfigError(`swift_auth_version ${config.swift_auth_version} is not supported: use 1 (tempauth) or 3 (Keystone v3)`);
  }
  // Trove 18 puts the user's token in every request; a store that speaks no Keystone uses the agent's own credentials.
  if (request.authToken && config.swift_auth_version === 1) {
    request.onTokenIgnored?.('the request carries a Keystone token, and swift_auth_version is 1 (tempauth): the agent uses its own swift_user and swift_key instead');
  } else if (request.authToken) {
    requireKeys(config, ['swift_auth_url']);
    return {
      authVersion: 'token',
      authUrl: config.swift_auth_url,
      token: request.authToken,
      ...(request.projectId ? { projectId: request.projectId } : {}),
      ...endpoint,
    };
  }
  if (config.swift_auth_version === 3) {
    requireKeys(config, ['swift_auth_url', 'swift_user', 'swift_key', 'swift_project_name']);
    return {
      authVersion: 3,
      authUrl: config.swift_auth_url,
      user: config.swift_user,
      key: config.swift_key,
      userDomainName: config.swift_user_domain_name,
      projectName: config.swift_project_name,
      projectDomainName: config.swift_project_domain_name,
      ...endpoint,
    };
  }
  requireKeys(config, ['swift_auth_url', 'swift_user', 'swift_key']);
  return { authVersion: 1, authUrl: config.swift_auth_url, user: config.swift_user, key: config.swift_key };
}

function requireKeys(config: AgentConfig, keys: ConfigKey[]): void {
  const missing = keys.filter((key) => config[key] === '');
  if (missing.length > 0) {
    throw new ConfigError(`storage_strategy is ${config.storage_strategy} but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`);
  }
}
