import { expect } from 'chai';
import { segmentsOf } from '../../src/storage/segment-stream.js';

async function cut(chunkSizes: number[], segmentSize: number): Promise<number[][]> {
  let value = 0;
  const source = (async function* () {
    for (const size of chunkSizes) yield Uint8Array.from({ length: size }, () => value++ % 251);
  })();
  const segments: number[][] = [];
  for await (const segment of segmentsOf(source, segmentSize)) {
    const bytes: number[] = [];
    for await (const chunk of segment) bytes.push(...chunk);
    segments.push(bytes);
  }
  return segments;
}

describe('cutting a stream into segments', () => {
  it('cuts at exact segment boundaries, splitting chunks that straddle one', async () => {
    const segments = await cut([3, 7, 2], 5);
    expect(segments.map((s) => s.length)).to.deep.equal([5, 5, 2]);
    expect(segments.flat()).to.deep.equal(Array.from({ length: 12 }, (_, i) => i));
  });

  it('gives one empty segment for an empty stream, and no trailing empty segment', async () => {
    expect(await cut([], 5)).to.deep.equal([[]]);
    expect((await cut([5, 5], 5)).map((s) => s.length)).to.deep.equal([5, 5]);
  });

  it('refuses to hand out a segment before the previous one was read', async () => {
    const source = (async function* () {
      yield new Uint8Array(10);
    })();
    const iterator = segmentsOf(source, 4);
    await iterator.next();
    try {
      await iterator.next();
      expect.fail('a second segment was handed out');
    } catch (err) {
      expect((err as Error).message).to.match(/was not read to its end/);
    }
  });
});
