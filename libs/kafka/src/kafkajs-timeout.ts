// kafkajs 2.2.4 re-arms its request-queue check after every check, at `throttledUntil - now`,
// which is negative when nothing is throttled (throttledUntil starts at -1): Node clamps it to
// 1 ms, so every broker connection that has sent a request wakes its process a thousand times a
// second for good, pending requests or not (an idle agent: ~1,400 epoll wakeups/s and 7-13 % of a
// core on the test machine). Node 24 also warns of the negative delay (kafkajs#1751, unfixed).
// The same method, armed only while requests wait: a push and every response check the queue
// anyway, so an empty queue needs no timer, and a throttled one is checked when the throttle ends.
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
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const throttledFor = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, throttledFor > 0 ? throttledFor : CHECK_PENDING_REQUESTS_INTERVAL);
};
