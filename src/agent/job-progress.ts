import type { JobProgress } from '../rpc/conductor-reporter.js';
import type { Progress } from '../util/progress.js';

interface Phase {
  kind: JobProgress['kind'];
  id: string;
  phase: string;
  done: number;
  total: number;
  startedMs: number;
}

/**
 * The running job's byte progress, for the heartbeats: the job's own
 * Progress calls pass through to `inner` and are noted here. One job runs at
 * a time, so there is one phase to tell.
 */
export class JobProgressTracker {
  #current: Phase | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  wrap(kind: JobProgress['kind'], id: string, inner: Progress): Progress {
    return {
      step: (message) => inner.step(message),
      begin: (phase, totalBytes) => {
        this.#current = { kind, id, phase, done: 0, total: totalBytes, startedMs: this.now() };
        inner.begin(phase, totalBytes);
      },
      advance: (bytes) => {
        if (this.#current?.id === id) this.#current.done += bytes;
        inner.advance(bytes);
      },
      end: () => inner.end(),
    };
  }

  /** The job has ended: nothing to tell until the next one begins a phase. */
  clear(id: string): void {
    if (this.#current?.id === id) this.#current = undefined;
  }

  snapshot(): JobProgress | undefined {
    const phase = this.#current;
    if (!phase) return undefined;
    const elapsed = (this.now() - phase.startedMs) / 1000;
    const left = Math.max(0, phase.total - phase.done);
    const eta = phase.done > 0 && elapsed > 0 ? Math.round((left * elapsed) / phase.done) : null;
    return { kind: phase.kind, id: phase.id, phase: phase.phase, bytes_done: phase.done, bytes_total: phase.total, eta_seconds: eta };
  }
}
