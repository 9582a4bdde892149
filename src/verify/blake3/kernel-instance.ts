// One kernel per thread, created on first use and shared by callers that do not
// bring their own (kernel calls are synchronous, so sharing is safe).

import type { Blake3Kernel } from './kernel.js';
import { createKernel } from './select-kernel.js';

let kernel: Blake3Kernel | undefined;

export function defaultKernel(): Blake3Kernel {
  return (kernel ??= createKernel());
}
