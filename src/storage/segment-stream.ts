/**
 * Cuts one byte stream into consecutive segments of at most `segmentSize`
 * bytes, each an async iterable consumed before the next is handed out, so
 * that segments can be uploaded one after another with backpressure and no
 * more than one chunk held in memory.
 */
export async function* segmentsOf(source: AsyncIterable<Uint8Array>, segmentSize: number): AsyncGenerator<AsyncIterable<Uint8Array>> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Uint8Array | undefined;
  let sourceDone = false;

  const next = async (): Promise<Uint8Array | undefined> => {
    if (pending) {
      const chunk = pending;
      pending = undefined;
      return chunk;
    }
    if (sourceDone) return undefined;
    const result = await iterator.next();
    if (result.done) {
      sourceDone = true;
      return undefined;
    }
    return result.value;
  };

  let first = true;
  for (;;) {
    // Always at least one segment, so that an empty stream is an empty object.
    const head = await next();
    if (head === undefined && !first) return;
    first = false;
    if (head !== undefined) pending = head;
    let consumed = false;
    yield (async function* segment() {
      let remaining = segmentSize;
      while (remaining > 0) {
        const chunk = await next();
        if (chunk === undefined) break;
        if (chunk.length > remaining) {
          pending = chunk.subarray(remaining);
          yield chunk.subarray(0, remaining);
          remaining = 0;
        } else {
          remaining -= chunk.length;
          yield chunk;
        }
      }
      consumed = true;
    })();
    if (!consumed) throw new Error('segmentsOf: a segment was not read to its end before the next was asked for');
    if (head === undefined) return;
  }
}
