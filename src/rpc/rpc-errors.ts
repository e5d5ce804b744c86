import { AgentError } from '../errors.js';

/** A message that cannot be taken as an RPC request or reply. Its text is safe to log and to send back. */
export class MalformedMessageError extends AgentError {}

/** An encrypted value that does not decrypt; never treated as plaintext. */
export class DecryptionError extends MalformedMessageError {}

/** The remote side answered a call with a failure. */
export class RemoteError extends AgentError {
  constructor(
    readonly remoteClass: string,
    readonly remoteModule: string,
    readonly remoteMessage: string,
  ) {
    super(`${remoteModule}.${remoteClass}: ${remoteMessage}`);
  }
}

/** No reply arrived within the call's timeout. */
export class RpcTimeoutError extends AgentError {}

/** The method is not in the endpoint's table: oslo's NoSuchMethod. */
export class NoSuchMethodError extends AgentError {
  constructor(readonly method: string) {
    super(`Endpoint does not support RPC method ${method}`);
  }
}
