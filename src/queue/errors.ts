/**
 * A request given up while it waited for its slot, because its caller stopped (a graceful
 * stop of the worker): nothing reached Okta, and the slot went back to the budget.
 */
export class RequestWithdrawn extends Error {
  constructor() {
    super('the request was withdrawn before it was sent: the worker is stopping');
    this.name = 'RequestWithdrawn';
  }
}

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
