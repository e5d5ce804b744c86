/**
 * The control plane's library, for control planes written in Node: talk to
 * guest agents as Trove's taskmanager does, and take their reports as
 * Trove's conductor does.
 *
 *   import { GuestClient, listenToConductorReports, DbaasControlPlane } from 'cassandra-guest-agent/dist/src/control/index.js';
 */
export { GuestClient, type BackupInfo, type GuestClientOptions, type GuestRpc, type PrepareArgs, type RestoreInfo } from './guest-client.js';
export { castOnlyRpc } from './cast-only-rpc.js';
export {
  DbaasControlPlane,
  DeleteRefusedError,
  WaitTimeoutError,
  controlPlaneSettings,
  type BackupRequestOptions,
  type ControlPlaneOptions,
  type ControlPlaneSettings,
  type DeletedBackup,
  type GuestQueueStatus,
  type PurgeResult,
  type WaitOptions,
} from './control-plane.js';
export { planPurge, parseDuration, formatDuration, type PlannedBackup, type PurgePlan, type PurgeRules } from './purge-plan.js';
export type { BackupNode } from './backup-graph.js';
export { Scheduler, retentionRules, type SchedulerEvent, type SchedulerOptions } from './scheduler.js';
export { ScheduleStore, ScheduleNotFoundError, parseSchedule, isValidScheduleId } from './schedule-store.js';
export {
  advance,
  checkCron,
  dueRun,
  finishedRun,
  nextOccurrence,
  occurrencesSince,
  overlapReason,
  type DueRun,
  type LastRun,
  type RunKind,
  type RunOutcome,
  type Schedule,
} from './schedule-plan.js';
export { ConductorInbox, BrokerUnavailableError, DEFAULT_DRAIN_BOUND, type ConductorInboxOptions, type DrainBound, type DrainResult } from './conductor-inbox.js';
export { listenToConductorReports, type ReportListenerOptions } from './report-listener.js';
export { classifyReport, type BackupReport, type BackupRequestState, type ConductorReport, type HeartbeatReport, type OtherReport } from './conductor-reports.js';
export { BackupStateStore, nextBackupState, type BackupRequest, type InstanceStatus } from './backup-state.js';
export { mergeBackups, viewOf, type BackupView } from './backup-view.js';
export { InstanceKeys, instanceKeyFromEnv, parseInstanceKey, readInstanceKeyFile, readInstanceKeysFile } from './instance-keys.js';

// The lower layers a control plane needs with them.
export { AmqpLink, redactUrl, type AmqpLinkOptions } from '../rpc/amqp-link.js';
export { RpcClient, type RpcTarget, type SendOptions } from '../rpc/rpc-client.js';
export { listenToConductorQueue, type ConductorListenerOptions } from '../rpc/conductor-listener.js';
export type { ConductorCast, JsonObject } from '../rpc/oslo-message.js';
export { DEFAULT_QUEUE_FLAGS, declareTopicQueue, type QueueFlags } from '../rpc/queue-declarations.js';
export { RpcKey } from '../rpc/secure-serializer.js';
export { RemoteError, RpcTimeoutError } from '../rpc/rpc-errors.js';
export type { BackupRecord, ManifestFile } from '../catalog/backup-record.js';
export type { BackupSummary, Catalog, IndexedCatalog } from '../catalog/catalog.js';
export { createStorageCatalog } from '../catalog/storage-catalog.js';
export { verifyBackup, type VerifyReport } from '../jobs/verify-backup.js';
