import type { SettingsOf } from '../config/config-schema.js';
import { ConfigError } from '../errors.js';
import { defineBackend, requireSettings, type StorageRequest } from './backend-descriptor.js';
import type { SwiftAuthOptions } from './swift-auth.js';
import { SWIFT_LIMITS, createSwiftStorage } from './swift-storage.js';

const SWIFT_KEYS = {
  backup_swift_container: { type: { kind: 'string' }, default: 'database_backups' },
  swift_auth_url: { type: { kind: 'string', allowEmpty: true }, default: '' },
  swift_user: { type: { kind: 'string', allowEmpty: true }, default: '' },
  swift_key: { type: { kind: 'string', allowEmpty: true }, default: '', secret: true },
  swift_auth_version: { type: { kind: 'int', min: 1, max: 3 }, default: 1 },
  swift_user_domain_name: { type: { kind: 'string' }, default: 'Default' },
  swift_project_name: { type: { kind: 'string', allowEmpty: true }, default: '' },
  swift_project_domain_name: { type: { kind: 'string' }, default: 'Default' },
  swift_region_name: { type: { kind: 'string', allowEmpty: true }, default: '' },
  swift_endpoint_interface: { type: { kind: 'enum', values: ['public', 'internal', 'admin'] }, default: 'public' },
  swift_retry_buffer_size: { type: { kind: 'size', min: 0 }, default: 64 * 1024 * 1024 },
  swift_segment_attempts: { type: { kind: 'int', min: 1, max: 10 }, default: 3 },
  swift_upload_concurrency: { type: { kind: 'int', min: 1, max: 16 }, default: 1 },
  // Trove's name and default.
  backup_segment_max_size: { type: { kind: 'size', min: 1 }, default: 2 * 1024 ** 3 },
} as const;

type SwiftSettings = SettingsOf<typeof SWIFT_KEYS>;

/** OpenStack Swift in Trove's layout (swift-storage.ts), authenticated as swift-auth.ts says. */
export const swiftBackend = defineBackend({
  name: 'swift',
  keys: SWIFT_KEYS,
  limits: SWIFT_LIMITS,
  create: (settings, request) =>
    createSwiftStorage({
      ...swiftAuth(settings, request),
      container: request.swiftContainer || settings.backup_swift_container,
      segmentSize: settings.backup_segment_max_size,
      retryBufferSize: settings.swift_retry_buffer_size,
      segmentAttempts: settings.swift_segment_attempts,
      uploadConcurrency: settings.swift_upload_concurrency,
    }),
});

/** A request's token wins over the configured password, as in Trove 18. */
function swiftAuth(settings: SwiftSettings, request: StorageRequest): SwiftAuthOptions {
  const endpoint = {
    endpointInterface: settings.swift_endpoint_interface,
    ...(settings.swift_region_name ? { regionName: settings.swift_region_name } : {}),
  };
  if (settings.swift_auth_version !== 1 && settings.swift_auth_version !== 3) {
    throw new ConfigError(`swift_auth_version ${settings.swift_auth_version} is not supported: use 1 (tempauth) or 3 (Keystone v3)`);
  }
  // Trove 18 puts the user's token in every request; a store that speaks no Keystone uses the agent's own credentials.
  if (request.authToken && settings.swift_auth_version === 1) {
    request.onTokenIgnored?.('the request carries a Keystone token, and swift_auth_version is 1 (tempauth): the agent uses its own swift_user and swift_key instead');
  } else if (request.authToken) {
    requireSettings('swift', settings, ['swift_auth_url']);
    return {
      authVersion: 'token',
      authUrl: settings.swift_auth_url,
      token: request.authToken,
      ...(request.projectId ? { projectId: request.projectId } : {}),
      ...endpoint,
    };
  }
  if (settings.swift_auth_version === 3) {
    requireSettings('swift', settings, ['swift_auth_url', 'swift_user', 'swift_key', 'swift_project_name']);
    return {
      authVersion: 3,
      authUrl: settings.swift_auth_url,
      user: settings.swift_user,
      key: settings.swift_key,
      userDomainName: settings.swift_user_domain_name,
      projectName: settings.swift_project_name,
      projectDomainName: settings.swift_project_domain_name,
      ...endpoint,
    };
  }
  requireSettings('swift', settings, ['swift_auth_url', 'swift_user', 'swift_key']);
  return { authVersion: 1, authUrl: settings.swift_auth_url, user: settings.swift_user, key: settings.swift_key };
}
