/** The little a trigger step needs from a logger (Powertools' Logger fits; tests pass a recorder). */
export interface StepLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export const silentLogger: StepLogger = { debug() {}, info() {}, warn() {}, error() {} };
