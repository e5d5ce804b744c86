/** A failure the daemon reports the way the real server's exception reaches nodetool. */
export class JavaException extends Error {
  constructor(
    readonly javaClass: string,
    message: string,
    readonly frames: readonly string[],
    /** nodetool prints these as `nodetool: <msg>` + usage hint with exit code 1 instead of a stack trace. */
    readonly badUse = false,
  ) {
    super(message);
  }
}

export function illegalArgument(message: string): JavaException {
  return new JavaException('java.lang.IllegalArgumentException', message, [], true);
}
