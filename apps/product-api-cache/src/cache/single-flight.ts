/**
 * In-process single flight: concurrent callers with the same key share one running promise, so
 * a burst of misses on one replica costs one load.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  run(key: string, load: () => Promise<T>): Promise<T> {
    const running = this.flights.get(key);
    if (running) return running;
    const flight = load().finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    });
    this.flights.set(key, flight);
    return flight;
  }

  /**
   * Stops sharing the flights whose key matches: they finish for the callers already waiting,
   * but later callers start fresh ones (used when a write makes what they are loading old).
   */
  forget(matches: (key: string) => boolean): void {
    for (const key of [...this.flights.keys()]) if (matches(key)) this.flights.delete(key);
  }

  /** Number of loads running now. */
  get size(): number {
    return this.flights.size;
  }
}
