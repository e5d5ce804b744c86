/**
 * Where long operations report what they are doing. The CLI draws a bar on a
 * TTY; the agent turns it into log lines; tests and JSON mode stay quiet.
 */
export interface Progress {
  /** A named step ("stopping Cassandra"), for people watching. */
  step(message: string): void;
  /** A byte-counted phase begins. */
  begin(phase: string, totalBytes: number): void;
  advance(bytes: number): void;
  end(): void;
}

export const silentProgress: Progress = {
  step: () => undefined,
  begin: () => undefined,
  advance: () => undefined,
  end: () => undefined,
};
