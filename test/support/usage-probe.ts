// Loaded with `node --import` into a measured process: reports its CPU time (all
// threads, user + system) and peak RSS on stderr as it exits, as one line
// `CASTOR_USAGE {"cpuSeconds","maxRssKiB"}` (parseUsage reads it back).

process.on('exit', () => {
  const u = process.resourceUsage();
  process.stderr.write(`\nCASTOR_USAGE ${JSON.stringify({ cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6, maxRssKiB: u.maxRSS })}\n`);
});
