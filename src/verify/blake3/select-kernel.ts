// Picks the fastest BLAKE3 kernel this runtime supports; CASTOR_BLAKE3_KERNEL overrides it.

import type { Blake3Kernel } from './kernel.js';
import { ScalarKernel } from './scalar-kernel.js';
import { WasmSimdKernel, simdSupported } from './wasm-kernel.js';

/**
 * A new kernel (each owns its buffers and, for wasm-simd, its memory). With
 * CASTOR_BLAKE3_KERNEL=scalar the scalar kernel is used (tests, benchmarks);
 * =wasm-simd demands the SIMD kernel and throws where it cannot run.
 */
export function createKernel(): Blake3Kernel {
  const forced = process.env['CASTOR_BLAKE3_KERNEL'];
  if (forced === 'scalar') return new ScalarKernel();
  if (forced === 'wasm-simd') return new WasmSimdKernel();
  if (forced !== undefined && forced !== '') {
    throw new Error(`CASTOR_BLAKE3_KERNEL=${forced}: expected 'scalar' or 'wasm-simd'`);
  }
  if (simdSupported()) {
    try {
      return new WasmSimdKernel();
    } catch {
      // The probe passed but the kernel module did not instantiate (an engine with partial
      // SIMD support, or memory limits): the scalar kernel is slower but always works.
    }
  }
  return new ScalarKernel();
}
