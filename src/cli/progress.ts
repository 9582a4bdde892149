// A progress bar on stderr, only when stderr is a terminal, redrawn at most ten times a second.

export interface Progress {
  update(done: number): void;
  finish(): void;
}

const silent: Progress = { update() {}, finish() {} };

export function progressBar(label: string, total: number, minTotal = 64 << 20): Progress {
  if (!process.stderr.isTTY || total < minTotal) return silent;
  const started = performance.now();
  let last = 0;
  const draw = (done: number): void => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const fill = Math.round(frac * width);
    const secs = (performance.now() - started) / 1000;
    const rate = secs > 0 ? done / secs / 1e6 : 0;
    process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${rate.toFixed(0)} MB/s `);
  };
  return {
    update(done) {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      draw(done);
    },
    finish() {
      draw(total);
      process.stderr.write('\n');
    },
  };
}

/** For work whose total is not known up front (a tree being walked): counts, bytes and rate on stderr's TTY. */
export function progressCounter(label: string): { update(files: number, bytes: number): void; finish(): void } {
  if (!process.stderr.isTTY) return { update() {}, finish() {} };
  const started = performance.now();
  let last = 0;
  let drawn = false;
  let state = { files: 0, bytes: 0 };
  const draw = (): void => {
    const secs = (performance.now() - started) / 1000;
    const rate = secs > 0 ? state.bytes / secs / 1e6 : 0;
    process.stderr.write(`\r${label}: ${state.files} files, ${(state.bytes / 1e6).toFixed(1)} MB, ${rate.toFixed(0)} MB/s `);
    drawn = true;
  };
  return {
    update(files, bytes) {
      state = { files, bytes };
      const now = performance.now();
      // Nothing for work that ends within half a second.
      if (now - started < 500 || now - last < 100) return;
      last = now;
      draw();
    },
    finish() {
      if (!drawn) return;
      draw();
      process.stderr.write('\n');
    },
  };
}
