/** The run was cancelled or halted: no new Okta request is made for it. */
export class RunStoppedError extends Error {
  constructor(
    readonly runId: string,
    readonly reason: string,
  ) {
    super(`run ${runId} is stopped: ${reason}`);
    this.name = 'RunStoppedError';
  }
}
