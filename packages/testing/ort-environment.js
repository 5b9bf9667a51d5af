'use strict';
/**
 * A jest environment in which onnxruntime-node accepts typed arrays made by test code.
 *
 * Jest runs every test file in its own vm realm, so `new Float32Array()` inside a test creates an
 * object whose constructor is not the host realm's `Float32Array`. onnxruntime-common checks
 * `data instanceof Float32Array` against the host realm's constructor and throws "A float32 tensor's
 * data must be type of function Float32Array()". Handing the host realm's constructors to the test
 * global makes both realms agree (the same workaround transformers.js applies in tests/init.js).
 */
const { TestEnvironment } = require('jest-environment-node');

const HOST_CONSTRUCTORS = {
  ArrayBuffer,
  SharedArrayBuffer,
  DataView,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

class OrtSafeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const [name, ctor] of Object.entries(HOST_CONSTRUCTORS)) {
      this.global[name] = ctor;
    }
  }
}

module.exports = OrtSafeEnvironment;
