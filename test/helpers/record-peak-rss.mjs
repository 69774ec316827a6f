// `node --import ./test/helpers/record-peak-rss.mjs …`: writes the process's peak resident memory
// (maxRSS, kB) to the file named by RECORD_PEAK_RSS as it exits.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.RECORD_PEAK_RSS) writeFileSync(process.env.RECORD_PEAK_RSS, String(process.resourceUsage().maxRSS));
});
