/**
 * The ERROR codes of native_protocol_v4.spec section 9 that the test server answers with, and the
 * exceptions that carry them. The messages are Cassandra 4.0's own texts (each thrower says where
 * it took its text from).
 */
export const ErrorCode = {
  SERVER_ERROR: 0x0000,
  PROTOCOL_ERROR: 0x000a,
  BAD_CREDENTIALS: 0x0100,
  SYNTAX_ERROR: 0x2000,
  UNAUTHORIZED: 0x2100,
  INVALID: 0x2200,
  UNPREPARED: 0x2500,
} as const;

export class CqlError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** Extra fields after the message (Unprepared: the id as [short bytes]). */
    readonly extra?: { unpreparedId?: Buffer },
  ) {
    super(message);
  }
}

/**
 * org.apache.cassandra.transport.ProtocolException. `fatal` ones end the connection once answered
 * (the frame stream cannot be trusted any more); `responseVersion` is the protocol version the
 * answer's header carries when the client's own version is not one the server speaks.
 */
export class ProtocolError extends CqlError {
  constructor(
    message: string,
    readonly fatal = false,
    readonly responseVersion?: number,
  ) {
    super(ErrorCode.PROTOCOL_ERROR, message);
  }
}

export const syntaxError = (message: string): CqlError => new CqlError(ErrorCode.SYNTAX_ERROR, message);
export const invalidRequest = (message: string): CqlError => new CqlError(ErrorCode.INVALID, message);
export const unauthorized = (message: string): CqlError => new CqlError(ErrorCode.UNAUTHORIZED, message);
export const badCredentials = (message: string): CqlError => new CqlError(ErrorCode.BAD_CREDENTIALS, message);

/**
 * A statement real Cassandra would run but this test server does not implement. It is answered as
 * a server error whose text says so, so that nobody mistakes it for Cassandra's verdict.
 */
export const notSimulated = (what: string): CqlError =>
  new CqlError(ErrorCode.SERVER_ERROR, `not supported by the simulated Cassandra node: ${what}`);
