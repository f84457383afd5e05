/** middy options every handler uses (a module of its own, so the trigger handlers import nothing else). */

/**
 * middy's own early timeout is off: by default it answers `TimeoutError` just before Lambda's
 * Timeout and leaves the step running, and that abandoned step resumes at the next invocation the
 * environment serves (Lambda freezes, not kills, what a returned handler left). Without it a slow
 * step is cut off by Lambda itself (Sandbox.Timedout, the environment reset), the error the ASL
 * retries; a scheduled or subscription function cut off that way is run again from the start by
 * Lambda's retry of asynchronous invocations, never resumed half-way.
 */
export const MIDDY_OPTIONS = { timeoutEarlyInMillis: 0 } as const;
