import { listenToConductorQueue, type ConductorListenerOptions } from '../rpc/conductor-listener.js';
import { classifyReport, type ConductorReport } from './conductor-reports.js';

export interface ReportListenerOptions extends Omit<ConductorListenerOptions, 'onReport'> {
  onReport(report: ConductorReport): void | Promise<void>;
}

/**
 * For a long-running control plane: consumes the conductor queue (as
 * Trove's conductor does) and hands over each report typed. A report that
 * names another instance than the one that sent it, lacks its fields, or
 * comes in plaintext about an instance that has a key, is logged and dropped.
 */
export function listenToConductorReports(options: ReportListenerOptions): Promise<void> {
  const { onReport, ...rest } = options;
  return listenToConductorQueue({
    ...rest,
    onReport: (cast) => {
      const report = classifyReport(cast, (id) => options.keyOf(id) !== undefined);
      if (report.kind === 'invalid') {
        options.log.warn('conductor.report_invalid', { method: cast.method, reason: report.reason });
        return;
      }
      return onReport(report);
    },
  });
}
