// One kernel per thread, created on first use.

import type { Blake3Kernel } from './kernel.js';
import { ScalarKernel } from './scalar-kernel.js';

let kernel: Blake3Kernel | undefined;

export function defaultKernel(): Blake3Kernel {
  return (kernel ??= new ScalarKernel());
}
