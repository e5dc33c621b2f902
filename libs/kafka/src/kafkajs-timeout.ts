// kafkajs 2.2.4 schedules its request-queue check at `throttledUntil - now`, which is negative
// when nothing is throttled (throttledUntil starts at -1). Every Node clamps that to 1 ms; Node 24
// also prints a TimeoutNegativeWarning for it (kafkajs#1751, unfixed upstream). The same method,
// with the clamp written out, so the behaviour is unchanged and the warning gone.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const RequestQueue = require('kafkajs/src/network/requestQueue') as { prototype: QueueState & { scheduleCheckPendingRequests(): void } };

interface QueueState {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
}

const CHECK_PENDING_REQUESTS_INTERVAL = 10; // kafkajs' own

RequestQueue.prototype.scheduleCheckPendingRequests = function (this: QueueState) {
  let scheduleAt = this.throttledUntil - Date.now();
  if (!this.throttleCheckTimeoutId) {
    if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, Math.max(1, scheduleAt));
  }
};
