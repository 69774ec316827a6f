import Bottleneck from 'bottleneck';
import type { GateLease, RequestDescriptor, RequestGate } from '../okta/types.ts';

/**
 * Bounds this process's Okta requests in flight (--concurrency) in front of the shared
 * budget. Bottleneck is used here in its local mode, where it is sound; its Redis
 * clustering mode is not (see the README's design notes), so the cross-process
 * budget is SharedBudget.
 */
export class ProcessGate implements RequestGate {
  private readonly limiter: Bottleneck;

  constructor(
    private readonly inner: RequestGate,
    maxConcurrent: number,
  ) {
    this.limiter = new Bottleneck({ maxConcurrent });
  }

  acquire(req: RequestDescriptor): Promise<GateLease> {
    return new Promise((resolve, reject) => {
      void this.limiter.schedule(
        () =>
          new Promise<void>((slotDone) => {
            this.inner.acquire(req).then(
              (lease) =>
                resolve({
                  release: (meta) => {
                    lease.release(meta);
                    slotDone();
                  },
                }),
              (err) => {
                slotDone();
                reject(err);
              },
            );
          }),
      );
    });
  }

  async stop(): Promise<void> {
    await this.limiter.stop({ dropWaitingJobs: true }).catch(() => {});
  }
}
