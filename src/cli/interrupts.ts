import { AgentError } from '../errors.js';

/**
 * An AbortSignal that SIGINT and SIGTERM abort, so a command can stop and
 * clean up. A second signal does not kill the process in the middle of its
 * clean-up: the handlers stay installed ('on', not 'once'), also because
 * execa's exit hook re-raises a signal that no other listener handles.
 */
export function abortOnSignals(command: string, announce: boolean): AbortSignal {
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      if (announce) process.stderr.write(`${command}: ${signal} received again; still cleaning up, please wait\n`);
      return;
    }
    if (announce) process.stderr.write(`${command}: ${signal} received, stopping and cleaning up\n`);
    abort.abort(new AgentError(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return abort.signal;
}
