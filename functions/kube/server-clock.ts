/**
 * The API server's clock, as one process can know it: every answer carries a `Date` header (whole
 * seconds, written while the request was served). Each answer bounds the server's time; this
 * process's monotonic clock carries the bounds forward. Leases are judged with it (../model/lease.ts),
 * so no machine ever compares its own wall clock with another machine's: a laptop whose clock is a
 * minute behind writes and reads lease times in the server's time like everyone else.
 */
export interface ServerTime {
  /** The server's time is no earlier than this (an observer judging expiry uses it: never early). */
  earliest: Date;
  /** The server's time is no later than this (a holder judging what remains uses it: never late). */
  latest: Date;
}

export class ServerClock {
  /** Best bounds so far, as offsets from the monotonic clock (ms). */
  private low = Number.NEGATIVE_INFINITY;
  private high = Number.POSITIVE_INFINITY;

  constructor(private readonly mono: () => number = () => performance.now()) {}

  /** Monotonic time to note before sending a request. */
  sent(): number {
    return this.mono();
  }

  /** An answer's `Date` header, for a request sent at `sentAt` (from `sent()`), received now. */
  observe(dateHeader: string | undefined, sentAt: number): void {
    const at = Date.parse(dateHeader ?? '');
    if (Number.isNaN(at)) return;
    const received = this.mono();
    // Written at a server time in [at, at + 1 s), somewhere between sending and receiving.
    this.low = Math.max(this.low, at - received);
    this.high = Math.min(this.high, at + 1000 - sentAt);
    // Bounds that cross (the server's clock stepped): start again from this answer.
    if (this.low > this.high) {
      this.low = at - received;
      this.high = at + 1000 - sentAt;
    }
  }

  now(): ServerTime | undefined {
    if (!Number.isFinite(this.low)) return undefined;
    const m = this.mono();
    return { earliest: new Date(m + this.low), latest: new Date(m + this.high) };
  }
}
