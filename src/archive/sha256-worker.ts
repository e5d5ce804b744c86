/**
 * The SHA-256 of one stream, on a thread of its own (see DigestStream). Each
 * message is a transferred ArrayBuffer and how many of its bytes to hash; the
 * buffer is sent back once hashed (the sender's flow control and reuse).
 * `null` ends the stream and is answered with the hex digest.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

if (!parentPort) throw new Error('sha256-worker: must run as a worker thread');
const port = parentPort;
const hash = createHash('sha256');

port.on('message', (message: { data: ArrayBuffer; length: number } | null) => {
  if (message === null) {
    port.postMessage({ digest: hash.digest('hex') });
    port.close();
    return;
  }
  hash.update(new Uint8Array(message.data, 0, message.length));
  // The buffer goes back to be filled again.
  port.postMessage({ hashed: message.data, length: message.length }, [message.data]);
});
