/**
 * The entry point of the compiled build (`npm run build`, then `node dist/src/cli/main.js`):
 * what bin/grantsweep.js runs from the sources through tsx, without the loader.
 */
import { cli } from './index.ts';

await cli();
