import './kafkajs-timeout';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const RequestQueue = require('kafkajs/src/network/requestQueue') as { prototype: { scheduleCheckPendingRequests(this: unknown): void } };

interface Queue { throttledUntil: number; throttleCheckTimeoutId: NodeJS.Timeout | null; pending: unknown[]; checkPendingRequests: jest.Mock }
const queue = (over: Partial<Queue> = {}): Queue => ({ throttledUntil: -1, throttleCheckTimeoutId: null, pending: [], checkPendingRequests: jest.fn(), ...over });

describe("kafkajs' request-queue check, armed only while requests wait", () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('arms no timer for an empty queue (kafkajs re-armed a 1 ms one after every check, for good)', () => {
    const q = queue();
    RequestQueue.prototype.scheduleCheckPendingRequests.call(q);
    expect(q.throttleCheckTimeoutId).toBeNull();
    expect(jest.getTimerCount()).toBe(0);
  });

  it("checks waiting requests after kafkajs' 10 ms, or when a throttle ends", () => {
    const waiting = queue({ pending: [{}] });
    RequestQueue.prototype.scheduleCheckPendingRequests.call(waiting);
    jest.advanceTimersByTime(9);
    expect(waiting.checkPendingRequests).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(waiting.checkPendingRequests).toHaveBeenCalledTimes(1);
    expect(waiting.throttleCheckTimeoutId).toBeNull();

    const throttled = queue({ pending: [{}], throttledUntil: Date.now() + 500 });
    RequestQueue.prototype.scheduleCheckPendingRequests.call(throttled);
    RequestQueue.prototype.scheduleCheckPendingRequests.call(throttled); // one timer at a time
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(499);
    expect(throttled.checkPendingRequests).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(throttled.checkPendingRequests).toHaveBeenCalledTimes(1);
  });
});
