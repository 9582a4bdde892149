// Loaded with `node --import` into a benchmarked process: reports its peak RSS on exit.

process.on('exit', () => {
  process.stderr.write(`\nCASTOR_MAXRSS_KIB ${process.resourceUsage().maxRSS}\n`);
});
