import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { askYesNo } from '../../src/cli/io.ts';

describe('askYesNo', () => {
  const ask = (typed: string | null) => {
    const input = new PassThrough();
    const output = new PassThrough();
    const answer = askYesNo('Revoke? [y/N] ', input, output);
    // null: Ctrl-D, the input ends without an answer.
    if (typed === null) input.end();
    else input.write(`${typed}\n`);
    return answer;
  };

  it('is yes for y and yes only', async () => {
    expect(await ask('y')).toBe(true);
    expect(await ask(' YES ')).toBe(true);
    expect(await ask('')).toBe(false);
    expect(await ask('n')).toBe(false);
    expect(await ask('yep')).toBe(false);
  });

  it('is no, not an error, when the input ends at the question (Ctrl-D)', async () => {
    await expect(ask(null)).resolves.toBe(false);
  });
});
