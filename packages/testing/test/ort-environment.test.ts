import { describe, expect, it } from '@jest/globals';
import { deserialize, serialize } from 'node:v8';

describe('ort-environment', () => {
  it('makes the test realm typed arrays those of the host realm (what onnxruntime-node checks)', () => {
    // v8.deserialize builds its result in the host realm, so its constructor is the host's.
    const hostFloat32 = (deserialize(serialize(new Float32Array(1))) as object).constructor;
    expect(hostFloat32).toBe(Float32Array);
    expect(new Float32Array(2)).toBeInstanceOf(hostFloat32);
    // Buffer always comes from the host realm; its prototype chain must reach our Uint8Array.
    expect(Object.getPrototypeOf(Buffer.prototype)).toBe(Uint8Array.prototype);
  });
});
