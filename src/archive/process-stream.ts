import { Duplex } from 'node:stream';
import { execa, type Result } from 'execa';
import { AgentError } from '../errors.js';

export interface ProcessStreamOptions {
  /** Names the stage in errors: `zstd decompression`. */
  label: string;
  /** The Debian package that provides the command, named when it is missing. */
  debianPackage: string;
  /**
   * Makes the caller's error of a failure (a restore's is an ArchiveError);
   * an AgentError with the message otherwise. `missing`: the command is not installed.
   */
  toError?: (message: string, failure: { missing: boolean; cause?: unknown }) => Error;
}

/** The end of stderr kept for the error message: tools say what went wrong in their last line. */
const STDERR_KEPT = 4096;
/** A process that ignores SIGTERM gets SIGKILL this much later. */
const KILL_GRACE_MS = 2000;

/**
 * A command as a stream stage: what is written goes to its stdin, its stdout
 * is what is read, each side with backpressure. The readable side ends only
 * once the process has exited with status 0, so a truncated or corrupt input
 * is never mistaken for a complete one; any other exit fails the stream with
 * the end of its stderr. Destroying the stream (an abort, a failure elsewhere
 * in the pipeline) kills the process and waits until it has been reaped.
 * Runs on a core of its own: the compression leaves Node's thread free.
 */
export function createProcessStream(command: string, args: readonly string[], options: ProcessStreamOptions): Duplex {
  return new ProcessStream(command, args, options);
}

class ProcessStream extends Duplex {
  private readonly child;
  private readonly exited: Promise<Result>;
  private stderrTail = '';
  private inputEnded = false;
  private readonly onOutput = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.child.stdout.pause();
  };

  constructor(
    private readonly command: string,
    args: readonly string[],
    private readonly options: ProcessStreamOptions,
  ) {
    super();
    this.child = execa(command, args, {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      encoding: 'buffer',
      forceKillAfterDelay: KILL_GRACE_MS,
    });
    const { stdin, stdout, stderr } = this.child;
    stdout.on('data', this.onOutput);
    stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_KEPT);
    });
    // EPIPE when the process exits before reading everything: its exit status says why.
    stdin.on('error', () => undefined);
    this.exited = Promise.resolve(this.child);
    this.exited.then(
      (result) => this.onExit(result),
      (err: unknown) => this.destroy(this.failure(`cannot run ${this.command}`, err)),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inputEnded = true;
    this.child.stdin.end();
    callback();
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const { stdin, stdout } = this.child;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
    // Unread output would keep the process's end (and its reaping) waiting.
    stdout.off('data', this.onOutput);
    stdout.resume();
    stdin.destroy();
    this.exited.then(
      () => callback(error),
      () => callback(error),
    );
  }

  private onExit(result: Result): void {
    if (this.destroyed) return;
    if (!result.failed) {
      if (!this.inputEnded) {
        this.destroy(this.failure(`${this.command} exited before reading all of its input`));
        return;
      }
      this.push(null);
      return;
    }
    if ((result.code ?? (result.cause as NodeJS.ErrnoException | undefined)?.code) === 'ENOENT') {
      const pkg = this.options.debianPackage;
      this.destroy(this.failure(`the command '${this.command}' is not installed; install the Debian package '${pkg}' (apt-get install ${pkg})`, undefined, true));
      return;
    }
    const said = this.stderrTail.trim().split('\n').filter((line) => line.trim() !== '').slice(-2).join(' / ');
    const how = result.exitCode !== undefined ? `exited with status ${result.exitCode}` : result.signal ? `was killed by ${result.signal}` : `could not run (${result.shortMessage})`;
    this.destroy(this.failure(`${this.command} ${how}${said ? `: ${said}` : ''}`, result.cause));
  }

  private failure(reason: string, cause?: unknown, missing = false): Error {
    const message = `${this.options.label} failed: ${reason}`;
    if (this.options.toError) return this.options.toError(message, { missing, ...(cause === undefined ? {} : { cause }) });
    return new AgentError(message, cause === undefined ? undefined : { cause });
  }
}
