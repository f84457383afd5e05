import { describe, expect, it } from 'vitest';
import { ServerClock } from '../../functions/kube/server-clock.js';

describe("ServerClock: the API server's time from Date headers, carried by a monotonic clock", () => {
  it('knows nothing before the first answer', () => {
    expect(new ServerClock(() => 0).now()).toBeUndefined();
  });

  it('bounds the server time by each answer, whatever this machine’s wall clock says', () => {
    let mono = 1_000;
    const clock = new ServerClock(() => mono);
    const sent = clock.sent();
    mono = 1_200; // answered 200 ms later, stamped 12:00:00 (written in [12:00:00, 12:00:01))
    clock.observe('Tue, 08 Dec 2026 12:00:00 GMT', sent);
    mono = 31_200; // 30 s later on the monotonic clock
    const t = clock.now()!;
    expect(t.earliest.toISOString()).toBe('2026-12-08T12:00:30.000Z');
    expect(t.latest.toISOString()).toBe('2026-12-08T12:00:31.200Z');
  });

  it('narrows the bounds with more answers, and starts again when the server’s clock steps', () => {
    let mono = 0;
    const clock = new ServerClock(() => mono);
    clock.observe('Tue, 08 Dec 2026 12:00:00 GMT', clock.sent());
    mono = 900;
    const s = clock.sent();
    clock.observe('Tue, 08 Dec 2026 12:00:01 GMT', s); // the second turned within 900 ms
    const t = clock.now()!;
    // At least 12:00:01 (the second answer); before 12:00:01.9 (the first, 900 ms on).
    expect(t.earliest.toISOString()).toBe('2026-12-08T12:00:01.000Z');
    expect(t.latest.toISOString()).toBe('2026-12-08T12:00:01.900Z');
    clock.observe('Tue, 08 Dec 2026 11:00:00 GMT', clock.sent()); // stepped back an hour
    expect(clock.now()!.earliest.toISOString()).toBe('2026-12-08T11:00:00.000Z');
    clock.observe('not a date', clock.sent());
    expect(clock.now()!.earliest.toISOString()).toBe('2026-12-08T11:00:00.000Z');
  });
});
