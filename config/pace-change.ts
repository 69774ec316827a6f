import { UsageError } from '../src/errors.ts';
import { configSchema, type Pacing } from './schema.ts';

export interface PaceChange {
  rateShare?: number;
  pacing?: Pacing;
}

/** How each surface names the fields in its messages. */
const LABELS = {
  flags: { rateShare: '--rate-share', pacing: '--pacing', neither: 'give --rate-share F (0 < F <= 1), --pacing even|window, or both' },
  form: { rateShare: 'rate share', pacing: 'pacing', neither: 'give a rate share (0 < F <= 1), a pacing (even or window), or both' },
} as const;

/**
 * A change of a run's pace as a person gave it (`grantsweep pace`'s flags, the dashboard's
 * form): each field checked by the configuration's own rule, so that both surfaces accept
 * and refuse the same values; an absent or empty field changes nothing.
 */
export function readPaceChange(
  given: { rateShare?: unknown; pacing?: unknown } | undefined,
  surface: keyof typeof LABELS,
  Refusal: new (message: string) => UsageError = UsageError,
): PaceChange {
  const label = LABELS[surface];
  // A form can send a field twice (rateShare=0.3&rateShare=0.4): say so rather than "got object".
  for (const field of ['rateShare', 'pacing'] as const) {
    if (Array.isArray(given?.[field])) throw new Refusal(`${label[field]}: given more than once`);
  }
  const change: PaceChange = {};
  const present = (v: unknown) => v !== undefined && v !== '';
  if (present(given?.rateShare)) {
    const r = configSchema.shape.rateShare.safeParse(given?.rateShare);
    if (!r.success) throw new Refusal(`${label.rateShare}: ${r.error.issues[0]?.message ?? 'expected a number in (0, 1]'}`);
    change.rateShare = r.data;
  }
  if (present(given?.pacing)) {
    const r = configSchema.shape.pacing.safeParse(given?.pacing);
    if (!r.success) throw new Refusal(`${label.pacing}: ${r.error.issues[0]?.message ?? 'expected even or window'}`);
    change.pacing = r.data;
  }
  if (change.rateShare === undefined && change.pacing === undefined) throw new Refusal(label.neither);
  return change;
}
