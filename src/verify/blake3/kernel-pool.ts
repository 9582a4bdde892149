// Kernels lent to one batched user at a time (a decode, a verifying slice). A kernel is a
// wasm instance with its own memory, where such a user keeps its batch across awaits, so
// two must never share one at once; one after another they may. A fresh kernel per use
// costs a new instance and memory, and V8 collects garbage to win back the address space
// each wasm memory reserves: a server answering 1 MiB ranges spent 5 ms of its main
// thread per request in the garbage collector.

import type { Blake3Kernel } from './kernel.js';
import { createKernel } from './select-kernel.js';

/** Idle kernels kept: about as many as batched users run at once (a tree fetch runs 8). */
const MAX_IDLE = 8;

const idle: Blake3Kernel[] = [];

/** A kernel nobody else is using; give it back with `releaseKernel` when done with it. */
export function takeKernel(): Blake3Kernel {
  return idle.pop() ?? createKernel();
}

/** Only once nothing reads or writes the kernel's memory any more. */
export function releaseKernel(kernel: Blake3Kernel): void {
  if (idle.length < MAX_IDLE && !idle.includes(kernel)) idle.push(kernel);
}
