import { expect } from 'chai';
import { createTerminalProgress } from '../../src/cli/progress-bar.js';

/** Just enough of a terminal to capture what is drawn. */
function fakeTerminal(isTTY: boolean): { stream: NodeJS.WriteStream; output: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 100, write: (s: string) => chunks.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, output: () => chunks.join('') };
}

describe('terminal progress', () => {
  it('draws bytes, total, rate and ETA on a TTY', () => {
    const { stream, output } = fakeTerminal(true);
    const progress = createTerminalProgress(stream, { quiet: false });
    progress.begin('backup', 4 * 1024 * 1024);
    progress.advance(1024 * 1024);
    progress.end();
    expect(output()).to.match(/\rbackup \[#+\.+\] 1\.0 MiB \/ 4\.0 MiB {2}\S+ \S+\/s {2}ETA \S+/);
  });

  it('prints steps but no bar when stderr is not a terminal', () => {
    const { stream, output } = fakeTerminal(false);
    const progress = createTerminalProgress(stream, { quiet: false });
    progress.step('taking snapshot x');
    progress.begin('backup', 100);
    progress.advance(50);
    progress.end();
    expect(output()).to.equal('guest-agent: taking snapshot x\n');
  });

  it('stays silent in JSON mode', () => {
    const { stream, output } = fakeTerminal(true);
    const progress = createTerminalProgress(stream, { quiet: true });
    progress.step('x');
    progress.begin('backup', 1);
    progress.advance(1);
    progress.end();
    expect(output()).to.equal('');
  });
});
