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
