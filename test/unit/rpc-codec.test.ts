import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import {
  decodeConductorCast,
  decodeEnvelope,
  decodeReply,
  decodeRequest,
  encodeConductorCast,
  encodeEnvelope,
  encodeReply,
  encodeRequest,
  MAX_MESSAGE_BYTES,
  type JsonObject,
} from '../../src/rpc/oslo-message.js';
import { PythonFloat, pythonJsonDumps } from '../../src/rpc/python-json.js';
import { DecryptionError, MalformedMessageError } from '../../src/rpc/rpc-errors.js';
import { decryptValue, encryptValue, RpcKey } from '../../src/rpc/secure-serializer.js';
import { troveFactsDir } from '../support/repo-paths.js';

interface CryptoVectors {
  key: string;
  aes_key_ascii: string;
  iv_hex: string;
  vectors: { value: unknown; json_plaintext: string; ciphertext_b64: string }[];
}
interface CapturedMessage {
  body_raw: string;
  decrypted: { args?: JsonObject; context?: JsonObject; result?: unknown } | null;
  oslo_message: JsonObject;
  properties: { content_type: string; expiration?: string };
}

const vectors = JSON.parse(readFileSync(path.join(troveFactsDir(), 'crypto_vectors.json'), 'utf8')) as CryptoVectors;
const examples = JSON.parse(readFileSync(path.join(troveFactsDir(), 'examples.json'), 'utf8')) as Record<string, CapturedMessage>;
const key = new RpcKey(vectors.key);
const json = { contentType: 'application/json' };

/** The inner object exactly as the captured bytes had it (key order kept). */
const innerOf = (example: CapturedMessage): JsonObject => decodeEnvelope(Buffer.from(example.body_raw, 'utf8'), json);
const isEncrypted = (name: string): boolean => name.endsWith('.encrypted');

describe('RPC codec: Trove encryption', () => {
  it("derives the AES key as the ASCII of the key's hex MD5", () => {
    expect(key.aesKey.toString('ascii')).to.equal(vectors.aes_key_ascii);
  });

  for (const vector of vectors.vectors) {
    const label = vector.json_plaintext.slice(0, 40);
    it(`writes ${label} as Python's json.dumps does and encrypts it to Trove's bytes`, () => {
      const isPythonFloat = typeof vector.value === 'number' && /[.e]/.test(vector.json_plaintext);
      const value = isPythonFloat ? new PythonFloat(vector.value as number) : vector.value;
      expect(pythonJsonDumps(value)).to.equal(vector.json_plaintext);
      expect(encryptValue(key, value, Buffer.from(vectors.iv_hex, 'hex'))).to.equal(vector.ciphertext_b64);
      expect(decryptValue(key, vector.ciphertext_b64, 'vector')).to.deep.equal(vector.value);
    });
  }

  it('never reads a value encrypted with another key as plaintext', () => {
    const other = encryptValue(new RpcKey('another-instance-key-000000000000'), { id: 'x' });
    expect(() => decryptValue(key, other, 'argument backup_info')).to.throw(DecryptionError, /argument backup_info does not decrypt|not JSON/);
    expect(() => decryptValue(key, '{"id": "x"}', 'argument backup_info')).to.throw(DecryptionError, /not IV \+ AES-256-CBC/);
    expect(() => decryptValue(key, 42, 'argument backup_info')).to.throw(DecryptionError, /not an encrypted string/);
  });

  it('does not show the key when printed or serialised', () => {
    expect(JSON.stringify({ key })).to.not.contain(vectors.aes_key_ascii);
    expect(String(key)).to.equal('[RpcKey]');
  });
});

describe('RPC codec: every captured Trove message', () => {
  for (const [name, example] of Object.entries(examples)) {
    it(`decodes ${name}`, () => {
      const inner = innerOf(example);
      const useKey = isEncrypted(name) ? key : undefined;
      if (name.startsWith('guest.')) {
        const request = decodeRequest(inner, useKey);
        expect(request.method).to.equal(inner.method);
        expect(request.encrypted).to.equal(isEncrypted(name));
        expect(request.call !== undefined).to.equal(name.includes('.call.'));
        if (useKey) {
          expect(request.args).to.deep.equal(example.decrypted?.args);
          expect(request.context).to.deep.equal(example.decrypted?.context);
        } else {
          expect(request.args).to.deep.equal(inner.args);
          expect(request.context.project_id).to.equal(inner._context_project_id);
          expect(request.context.auth_token).to.equal(inner._context_auth_token);
        }
      } else if (name.startsWith('conductor.')) {
        const cast = decodeConductorCast(inner, () => useKey);
        expect(cast.method).to.equal(inner.method);
        expect(cast.encrypted).to.equal(isEncrypted(name));
        if (useKey) {
          expect(cast.args).to.deep.equal(example.decrypted?.args);
          expect(cast.context).to.deep.equal(example.decrypted?.context);
        } else {
          expect(cast.args).to.deep.equal(inner.args);
        }
      } else {
        const reply = decodeReply(inner, useKey);
        expect(reply.msgId).to.equal(inner._msg_id);
        if (typeof inner.failure === 'string') {
          const failure = JSON.parse(inner.failure) as { class: string; module: string; message: string };
          expect(reply.failure).to.include({ className: failure.class, module: failure.module, message: failure.message });
        } else {
          expect(reply.failure).to.equal(undefined);
          expect(reply.result).to.deep.equal(useKey ? example.decrypted?.result : inner.result);
        }
      }
    });
  }

  it("writes the oslo envelope byte for byte as Python does", () => {
    for (const example of Object.values(examples)) {
      expect(encodeEnvelope(innerOf(example)).toString('utf8')).to.equal(example.body_raw);
    }
  });
});

describe('RPC codec: our messages decode back identically', () => {
  const context = { auth_token: 'token-not-to-be-logged', project_id: 'p1', roles: ['member'], request_id: 'req-1' };
  const args = { backup_info: { id: 'b1', parent: null, backup_type: 'full', name: 'ünïcødé' }, fs_path: null };

  for (const mode of ['plaintext', 'encrypted'] as const) {
    const useKey = mode === 'encrypted' ? key : undefined;

    it(`a ${mode} call, with oslo's properties and its timeout as expiration`, () => {
      const encoded = encodeRequest({ method: 'get_filesystem_stats', args, context, version: '1.0', call: { msgId: 'm1', replyQueue: 'reply_q1', timeoutSeconds: 15 } }, useKey);
      expect(encoded.options).to.include({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 0, expiration: '15000' });
      const request = decodeRequest(decodeEnvelope(encoded.content, json), useKey);
      expect(request).to.deep.include({ method: 'get_filesystem_stats', args, context, version: '1.0', encrypted: mode === 'encrypted' });
      expect(request.call).to.deep.equal({ msgId: 'm1', replyQueue: 'reply_q1', timeout: null });
      if (useKey) expect(encoded.content.toString()).to.not.contain('token-not-to-be-logged');
    });

    it(`a ${mode} reply, and a failure reply that is never encrypted`, () => {
      const result = { block_size: 4096, total: new PythonFloat(251.97) };
      const reply = decodeReply(decodeEnvelope(encodeReply({ msgId: 'm1', result }, useKey).content, json), useKey);
      expect(reply).to.deep.equal({ msgId: 'm1', result: { block_size: 4096, total: 251.97 }, failure: undefined });
      const failure = { className: 'GuestError', module: 'trove.common.exception', message: 'no', traceback: ['x\n'], args: [], kwargs: {} };
      const failed = encodeReply({ msgId: 'm2', failure }, useKey);
      expect(JSON.parse(JSON.parse(failed.content.toString())['oslo.message']).failure).to.contain('"class": "GuestError"');
      expect(decodeReply(decodeEnvelope(failed.content, json), useKey).failure).to.deep.equal(failure);
    });

    it(`a ${mode} conductor cast`, () => {
      const reportArgs = { instance_id: 'i1', backup_id: 'b1', sent: new PythonFloat(1795279861.5), size: new PythonFloat(24), state: 'BUILDING' };
      const encoded = encodeConductorCast({ method: 'update_backup', args: reportArgs, context }, useKey ? { key: useKey, instanceId: 'i1' } : undefined);
      const cast = decodeConductorCast(decodeEnvelope(encoded.content, json), (id) => (id === 'i1' ? key : undefined));
      expect(cast).to.deep.include({ method: 'update_backup', context, encrypted: mode === 'encrypted' });
      expect(cast.args).to.deep.equal({ instance_id: 'i1', backup_id: 'b1', sent: 1795279861.5, size: 24, state: 'BUILDING' });
      const rawArgs = decodeEnvelope(encoded.content, json).args as Record<string, string>;
      if (useKey) expect(rawArgs.size).to.match(/^\{"entity": "[^"]+", "csz-instance-id": "i1"\}$/);
      else expect(encoded.content.toString()).to.contain('size\\": 24.0');
    });
  }
});

describe('RPC codec: hostile input', () => {
  const body = (inner: unknown): Buffer => Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(inner) }));
  const encryptedCast = (): JsonObject => decodeEnvelope(encodeRequest({ method: 'create_backup', args: { backup_info: { id: 'b' } }, context: {}, version: '1.0' }, key).content, json);

  it('refuses a wrong content type, non-JSON, a non-oslo body and an oversized message', () => {
    expect(() => decodeEnvelope(body({ method: 'x' }), { contentType: 'text/plain' })).to.throw(MalformedMessageError, /content type is "text\/plain"/);
    expect(() => decodeEnvelope(Buffer.from('{not json'), json)).to.throw(MalformedMessageError, /not valid JSON/);
    expect(() => decodeEnvelope(Buffer.from('{"method": "x"}'), json)).to.throw(MalformedMessageError, /not an oslo.messaging 2.0 envelope/);
    expect(() => decodeEnvelope(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20), json)).to.throw(MalformedMessageError, /larger than/);
  });

  it('refuses a plaintext request when a key is set, and an encrypted one without a key', () => {
    expect(() => decodeRequest({ method: 'create_backup', args: { backup_info: {} } }, key)).to.throw(MalformedMessageError, /plaintext but this agent has an RPC key/);
    expect(() => decodeRequest(encryptedCast(), undefined)).to.throw(MalformedMessageError, /encrypted but this agent has no instance_rpc_encr_key/);
  });

  it('refuses a request whose argument was tampered with, naming the argument', () => {
    const inner = encryptedCast();
    const args = inner.args as JsonObject;
    const bytes = Buffer.from(args.backup_info as string, 'base64');
    bytes[bytes.length - 1]! ^= 1;
    args.backup_info = bytes.toString('base64');
    expect(() => decodeRequest(inner, key)).to.throw(DecryptionError, /argument backup_info/);
  });

  it('refuses requests without a method, with non-object args or a half-formed call', () => {
    expect(() => decodeRequest({ args: {} }, undefined)).to.throw(MalformedMessageError, /no "method"/);
    expect(() => decodeRequest({ method: 'x', args: [] }, undefined)).to.throw(MalformedMessageError, /"args" is not an object/);
    expect(() => decodeRequest({ method: 'x', args: {}, _msg_id: 'm' }, undefined)).to.throw(MalformedMessageError, /a call needs/);
  });
});
