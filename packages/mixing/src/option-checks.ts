// Constructor checks shared by the strategies; messages name the option and the bad value.

export function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

export function requireNonNegativeInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

export function requirePositiveDuration(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive finite number of milliseconds, got ${value}`);
  }
}

/** A probability or fraction in (0, 1]: zero would never release anything. */
export function requireUnitInterval(name: string, value: number): void {
  if (!(value > 0 && value <= 1)) {
    throw new RangeError(`${name} must be in (0, 1], got ${value}`);
  }
}

/** Thrown by `add` after `stop`: the pool is closed (a node shutting down should answer 503). */
export class StrategyStoppedError extends Error {
  override readonly name = 'StrategyStoppedError';
  readonly strategy: string;

  constructor(strategy: string) {
    super(`the ${strategy} strategy has been stopped; create a new one to mix again`);
    this.strategy = strategy;
  }
}

export function stoppedError(strategy: string): StrategyStoppedError {
  return new StrategyStoppedError(strategy);
}
