#!/usr/bin/env node
// Launcher only: registers the TypeScript loader and hands over to the CLI's error boundary.
import { register } from 'tsx/esm/api';

register();
const { cli } = await import('../src/cli/index.ts');
await cli();
