import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { reportError } from '../../src/cli/index.ts';
import type { CliIO } from '../../src/cli/io.ts';

function boundary(err: unknown) {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (d) => (text += d));
  const io = { stdout: new PassThrough(), stderr, stdinIsTTY: false, env: {}, confirm: async () => false } as unknown as CliIO;
  const code = reportError(io, err);
  return { code, text };
}

describe('the error boundary, for Redis', () => {
  // The messages ioredis builds (cluster/index.js, utils) when a cluster stays without a master for a slot.
  it.each([
    'Too many Cluster redirections. Last error: Error: Connection is closed.',
    'CLUSTERDOWN The cluster is down',
    'Failed to refresh slots cache.',
    'None of startup nodes is available',
    'connect ECONNREFUSED 127.0.0.1:6379',
  ])('"%s" is Redis out of reach (exit 3), not a bug', (message) => {
    const { code, text } = boundary(new Error(message));
    expect(code).toBe(3);
    expect(text).toMatch(/^grantsweep: lost the connection to Redis \(/);
    expect(text).not.toMatch(/unexpected error|this is a bug/);
  });

  it('anything else is still reported as a bug, with its stack', () => {
    const { code, text } = boundary(new TypeError('x is not a function'));
    expect(code).toBe(1);
    expect(text).toMatch(/unexpected error \(this is a bug/);
  });
});

describe('what commander says of an unknown option', () => {
  it('never holds the value given with =, whatever it contains', async () => {
    const { withoutOptionValues } = await import('../../src/cli/program.ts');
    for (const [arg, flag] of [
      ["--api-token=ab'cd'ef", '--api-token'],
      ['-Q=S3CRET', '-Q'],
      ['--private-key=-----BEGIN PRIVATE KEY-----\nMIIsecret\nmore', '--private-key'],
    ]) {
      const said = withoutOptionValues(`error: unknown option '${arg}'\n(Did you mean --apitoken?)\n`);
      expect(said).toBe(`error: unknown option '${flag}=…'\n(Did you mean --apitoken?)\n`);
    }
    expect(withoutOptionValues("error: unknown option '--nope'\n")).toBe("error: unknown option '--nope'\n");
    // A token pasted as the command is not shown; a mistyped command is, for its suggestion.
    expect(withoutOptionValues("error: unknown command '00abcSECRETtoken0123456789'\n")).toBe('error: unknown command (not shown: it may be a secret)\n');
    expect(withoutOptionValues("error: unknown command 'stauts'\n(Did you mean status?)\n")).toBe("error: unknown command 'stauts'\n(Did you mean status?)\n");
  });
});
