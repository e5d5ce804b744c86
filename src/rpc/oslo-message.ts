import { randomUUID } from 'node:crypto';
import type { MessageProperties, Options } from 'amqplib';
import { pythonJsonDumps } from './python-json.js';
import { MalformedMessageError } from './rpc-errors.js';
import { decryptValue, encryptValue, type RpcKey } from './secure-serializer.js';

/**
 * oslo.messaging's message format (version 2.0 envelope) and Trove's
 * per-instance encryption of arguments and context: encode and decode only,
 * no I/O. Facts: ../shared/trove-wire.md.
 */

export type JsonObject = Record<string, unknown>;

/** The AMQP properties oslo puts on every message. */
export const OSLO_PUBLISH_OPTIONS = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  deliveryMode: 2,
  priority: 0,
  headers: {},
} as const satisfies Options.Publish;

/** Larger messages are refused before parsing: a backup request is a few KiB, config_contents tens. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface CallInfo {
  msgId: string;
  replyQueue: string;
  /** Seconds; oslo sends null. */
  timeout: number | null;
}

export interface RpcRequest {
  method: string;
  args: JsonObject;
  version: string | undefined;
  uniqueId: string | undefined;
  /** Present for calls, which expect one reply. */
  call: CallInfo | undefined;
  /** The request context, unflattened (`auth_token`, `project_id`, ...). */
  context: JsonObject;
  encrypted: boolean;
}

export interface RemoteFailure {
  className: string;
  module: string;
  message: string;
  traceback: string[];
  args: unknown[];
  kwargs: JsonObject;
}

export interface RpcReply {
  msgId: string;
  result: unknown;
  failure: RemoteFailure | undefined;
}

export interface EncodedMessage {
  content: Buffer;
  options: Options.Publish;
}

export const newMessageId = (): string => randomUUID().replaceAll('-', '');

/** The envelope: `{"oslo.version": "2.0", "oslo.message": "<inner JSON>"}`. */
export function encodeEnvelope(inner: JsonObject): Buffer {
  return Buffer.from(pythonJsonDumps({ 'oslo.version': '2.0', 'oslo.message': pythonJsonDumps(inner) }), 'utf8');
}

/** Checks what oslo checks (content type, envelope version), plus a size bound, and returns the inner object. */
export function decodeEnvelope(content: Buffer, properties: Pick<MessageProperties, 'contentType'>): JsonObject {
  if (properties.contentType !== 'application/json') {
    throw new MalformedMessageError(`content type is ${JSON.stringify(properties.contentType ?? null)}, expected application/json`);
  }
  if (content.length > MAX_MESSAGE_BYTES) {
    throw new MalformedMessageError(`message of ${content.length} bytes is larger than the ${MAX_MESSAGE_BYTES} accepted`);
  }
  const outer = parseObject(content.toString('utf8'), 'message body');
  if (outer['oslo.version'] !== '2.0' || typeof outer['oslo.message'] !== 'string') {
    throw new MalformedMessageError('message body is not an oslo.messaging 2.0 envelope ("oslo.version": "2.0" and a string "oslo.message")');
  }
  return parseObject(outer['oslo.message'], 'oslo.message');
}

export interface RequestToEncode {
  method: string;
  args: JsonObject;
  context: JsonObject;
  version: string;
  call?: { msgId: string; replyQueue: string; timeoutSeconds: number };
}

/** A cast or call as Trove's control plane sends it to a guest. */
export function encodeRequest(request: RequestToEncode, key: RpcKey | undefined): EncodedMessage {
  const args = key ? mapValues(request.args, (value) => encryptValue(key, value)) : request.args;
  const inner: JsonObject = { method: request.method, args, version: request.version };
  if (request.call) {
    Object.assign(inner, { _msg_id: request.call.msgId, _reply_q: request.call.replyQueue, _timeout: null });
  }
  inner._unique_id = newMessageId();
  Object.assign(inner, key ? { _context_context: encryptValue(key, request.context) } : flattenContext(request.context));
  const options: Options.Publish = { ...OSLO_PUBLISH_OPTIONS };
  if (request.call) options.expiration = String(request.call.timeoutSeconds * 1000);
  return { content: encodeEnvelope(inner), options };
}

/**
 * The inverse, for the guest's side. With a key every argument and the
 * context must decrypt; a plaintext message is refused rather than trusted,
 * and an encrypted one without a key is refused rather than half-read.
 */
export function decodeRequest(inner: JsonObject, key: RpcKey | undefined): RpcRequest {
  const method = inner.method;
  if (typeof method !== 'string' || method === '') throw new MalformedMessageError('request has no "method" string');
  const rawArgs = inner.args ?? {};
  if (!isObject(rawArgs)) throw new MalformedMessageError(`request ${method}: "args" is not an object`);
  const encrypted = '_context_context' in inner;
  if (key && !encrypted) {
    throw new MalformedMessageError(`request ${method} is plaintext but this agent has an RPC key: refused (a control plane with encryption on never sends plaintext)`);
  }
  if (!key && encrypted) {
    throw new MalformedMessageError(`request ${method} is encrypted but this agent has no instance_rpc_encr_key: set it from guest_info.conf`);
  }
  const args = key ? mapValues(rawArgs, (value, name) => decryptValue(key, value, `request ${method}: argument ${name}`)) : rawArgs;
  let context: JsonObject;
  if (key) {
    const decrypted = decryptValue(key, inner._context_context, `request ${method}: context`);
    if (!isObject(decrypted)) throw new MalformedMessageError(`request ${method}: context is not an object`);
    context = decrypted;
  } else {
    context = unflattenContext(inner);
  }
  return {
    method,
    args,
    version: optionalString(inner.version, method, 'version'),
    uniqueId: optionalString(inner._unique_id, method, '_unique_id'),
    call: callInfo(inner, method),
    context,
    encrypted,
  };
}

/** A reply to a call; the result is encrypted when the request was, the failure never (as oslo + Trove do). */
export function encodeReply(reply: { msgId: string; result?: unknown; failure?: RemoteFailure }, key: RpcKey | undefined): EncodedMessage {
  const result = reply.failure ? null : (reply.result ?? null);
  const inner: JsonObject = {
    result: key ? encryptValue(key, result) : result,
    failure: reply.failure ? encodeFailure(reply.failure) : null,
    ending: true,
    _msg_id: reply.msgId,
    _unique_id: newMessageId(),
  };
  return { content: encodeEnvelope(inner), options: { ...OSLO_PUBLISH_OPTIONS } };
}

export function decodeReply(inner: JsonObject, key: RpcKey | undefined): RpcReply {
  if (typeof inner._msg_id !== 'string') throw new MalformedMessageError('reply has no "_msg_id"');
  const failure = typeof inner.failure === 'string' ? decodeFailure(inner.failure) : undefined;
  let result: unknown = inner.result ?? null;
  // A failure reply carries a plaintext null result even in encrypted mode.
  if (key && !failure) result = decryptValue(key, inner.result, `reply ${inner._msg_id}: result`);
  return { msgId: inner._msg_id, result, failure };
}

/** oslo's failure JSON; the caller rebuilds `builtins` and `trove.common.exception` classes. */
export function encodeFailure(failure: RemoteFailure): string {
  return pythonJsonDumps({
    class: failure.className,
    module: failure.module,
    message: failure.message,
    tb: failure.traceback,
    args: failure.args,
    kwargs: failure.kwargs,
  });
}

export function decodeFailure(text: string): RemoteFailure {
  const raw = parseObject(text, 'failure');
  return {
    className: String(raw.class ?? 'Exception'),
    module: String(raw.module ?? 'builtins'),
    message: String(raw.message ?? ''),
    traceback: Array.isArray(raw.tb) ? raw.tb.map(String) : [],
    args: Array.isArray(raw.args) ? raw.args : [],
    kwargs: isObject(raw.kwargs) ? raw.kwargs : {},
  };
}

/**
 * A cast from the guest to trove-conductor. Encrypted, each argument becomes
 * the JSON text `{"entity": <encrypted>, "csz-instance-id": <guest id>}` so the
 * conductor can look up which key to use; the context carries the id too.
 */
export function encodeConductorCast(
  cast: { method: string; args: JsonObject; context: JsonObject; version?: string },
  encryption: { key: RpcKey; instanceId: string } | undefined,
): EncodedMessage {
  const inner: JsonObject = { method: cast.method };
  if (encryption) {
    const { key, instanceId } = encryption;
    inner.args = mapValues(cast.args, (value) => pythonJsonDumps({ entity: encryptValue(key, value), 'csz-instance-id': instanceId }));
  } else {
    inner.args = cast.args;
  }
  inner.version = cast.version ?? '1.0';
  inner._unique_id = newMessageId();
  if (encryption) {
    inner._context_context = encryptValue(encryption.key, cast.context);
    inner['_context_csz-instance-id'] = encryption.instanceId;
  } else {
    Object.assign(inner, flattenContext(cast.context));
  }
  return { content: encodeEnvelope(inner), options: { ...OSLO_PUBLISH_OPTIONS } };
}

export interface ConductorCast {
  method: string;
  args: JsonObject;
  context: JsonObject;
  /** The guest that sent it, when it said (encrypted mode). */
  instanceId: string | undefined;
  uniqueId: string | undefined;
  encrypted: boolean;
}

/** The conductor's side: the key is looked up from the instance id the message names, as Trove's conductor does. */
export function decodeConductorCast(inner: JsonObject, keyOf: (instanceId: string) => RpcKey | undefined): ConductorCast {
  const method = inner.method;
  if (typeof method !== 'string') throw new MalformedMessageError('conductor message has no "method" string');
  const rawArgs = inner.args ?? {};
  if (!isObject(rawArgs)) throw new MalformedMessageError(`conductor message ${method}: "args" is not an object`);
  const contextId = inner['_context_csz-instance-id'];
  if (typeof contextId !== 'string') {
    return { method, args: rawArgs, context: unflattenContext(inner), instanceId: undefined, uniqueId: stringOrUndefined(inner._unique_id), encrypted: false };
  }
  const key = keyOf(contextId);
  if (!key) throw new MalformedMessageError(`conductor message ${method} from instance ${contextId}: no RPC key known for that instance`);
  const args = mapValues(rawArgs, (value, name) => {
    const wrapped = typeof value === 'string' ? parseObject(value, `${method} argument ${name}`) : undefined;
    if (!wrapped || wrapped['csz-instance-id'] !== contextId) {
      throw new MalformedMessageError(`conductor message ${method}: argument ${name} is not an entity of instance ${contextId}`);
    }
    return decryptValue(key, wrapped.entity, `conductor message ${method}: argument ${name}`);
  });
  const context = decryptValue(key, inner._context_context, `conductor message ${method}: context`);
  return {
    method,
    args,
    context: isObject(context) ? context : {},
    instanceId: contextId,
    uniqueId: stringOrUndefined(inner._unique_id),
    encrypted: true,
  };
}

function flattenContext(context: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(context).map(([k, v]) => [`_context_${k}`, v]));
}

function unflattenContext(inner: JsonObject): JsonObject {
  return Object.fromEntries(
    Object.entries(inner)
      .filter(([k]) => k.startsWith('_context_'))
      .map(([k, v]) => [k.slice('_context_'.length), v]),
  );
}

function callInfo(inner: JsonObject, method: string): CallInfo | undefined {
  if (inner._msg_id === undefined && inner._reply_q === undefined) return undefined;
  if (typeof inner._msg_id !== 'string' || typeof inner._reply_q !== 'string' || inner._reply_q === '') {
    throw new MalformedMessageError(`request ${method}: a call needs string "_msg_id" and "_reply_q"`);
  }
  const timeout = typeof inner._timeout === 'number' ? inner._timeout : null;
  return { msgId: inner._msg_id, replyQueue: inner._reply_q, timeout };
}

function parseObject(text: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedMessageError(`${what} is not valid JSON`);
  }
  if (!isObject(value)) throw new MalformedMessageError(`${what} is not a JSON object`);
  return value;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, method: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new MalformedMessageError(`request ${method}: "${field}" is not a string`);
  return value;
}

const stringOrUndefined = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function mapValues(object: JsonObject, map: (value: unknown, name: string) => unknown): JsonObject {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, map(v, k)]));
}
