import { describe, expect, it } from 'vitest';
import { readPaceChange } from '../../config/pace-change.ts';
import { UsageError } from '../../src/errors.ts';

class FormRefusal extends UsageError {}

describe('readPaceChange', () => {
  it('reads a share and a pacing the way the configuration does', () => {
    expect(readPaceChange({ rateShare: '0.25' }, 'flags')).toEqual({ rateShare: 0.25 });
    expect(readPaceChange({ pacing: ' Window ' }, 'form')).toEqual({ pacing: 'window' });
    expect(readPaceChange({ rateShare: '1', pacing: 'even' }, 'form')).toEqual({ rateShare: 1, pacing: 'even' });
    // An empty form field changes nothing.
    expect(readPaceChange({ rateShare: '', pacing: 'even' }, 'form')).toEqual({ pacing: 'even' });
  });

  it('refuses the same values on both surfaces, each naming the field its own way', () => {
    const bad: Array<{ rateShare?: unknown; pacing?: unknown }> = [
      { rateShare: '0' }, { rateShare: '1.5' }, { rateShare: 'NaN' }, { rateShare: '0x1' }, { rateShare: '-0.1' },
      { pacing: 'fast' }, { rateShare: '0.5', pacing: 'burst' }, {}, { rateShare: '', pacing: '' },
    ];
    for (const given of bad) {
      expect(() => readPaceChange(given, 'flags'), JSON.stringify(given)).toThrow(UsageError);
      expect(() => readPaceChange(given, 'form', FormRefusal), JSON.stringify(given)).toThrow(FormRefusal);
    }
    expect(() => readPaceChange({ rateShare: '1.5' }, 'flags')).toThrow('--rate-share: expected a number in (0, 1], got 1.5');
    expect(() => readPaceChange({ rateShare: '1.5' }, 'form')).toThrow('rate share: expected a number in (0, 1], got 1.5');
    expect(() => readPaceChange({ pacing: 'fast' }, 'flags')).toThrow('--pacing: expected one of even, window, got "fast"');
    expect(() => readPaceChange(undefined, 'form')).toThrow(/^give a rate share/);
    expect(() => readPaceChange({ rateShare: ['0.3', '0.4'] }, 'form')).toThrow('rate share: given more than once');
  });
});
