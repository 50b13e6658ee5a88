import assert from 'node:assert/strict';
import {
  hostileInputSuite,
  type HostileInputOptions,
  type HostileInputReport,
  type HostileRouteReport,
} from './hostile-input';

// Jest's `it`, declared here so this lib builds without Jest's types (only tests import it).
declare const it: (name: string, fn: () => Promise<void> | void, timeoutMs?: number) => void;

export interface HostileCoverage {
  /** The routes the suite must have reached: exactly these, or at least these with `partial`. */
  routes: readonly string[];
  /** The document has more routes than listed (they are reached, just not named). */
  partial?: boolean;
  /**
   * Per route, per status, the count of answers that must be exceeded, so that the generated
   * requests reached both sides of the route (the domain's answers, its 400s). A status key
   * `'201|404|409'` counts the sum of those statuses.
   */
  moreThan?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface HostileInputTestsOptions {
  /** The suite's options, read when the test runs (so fixtures started in `beforeAll` exist). */
  suite: () => Omit<HostileInputOptions, 'runs'> | Promise<Omit<HostileInputOptions, 'runs'>>;
  /** Generated requests per route. @default 200 */
  runs?: number;
  /** What a refused request must not have done, for the test's name. @default 'writes nothing' */
  refusal?: string;
  /** @default 240000 */
  timeoutMs?: number;
  coverage: HostileCoverage;
}

const answered = (route: HostileRouteReport, statuses: string) =>
  statuses.split('|').reduce((sum, status) => sum + (route.statuses[status] ?? 0), 0);

/**
 * The generated hostile-input suite of a service, as its two tests: every generated and fixed
 * request answered as its OpenAPI document declares (never a 500, never a hang) with a refused
 * request changing nothing; then that the generation reached every route, each with at least
 * the generated number of requests and on both sides of it (`coverage.moreThan`), so that a
 * suite that only ever sent 400s cannot pass.
 */
export function hostileInputTests(options: HostileInputTestsOptions): void {
  let report: HostileInputReport | undefined;
  const runs = options.runs ?? 200;

  it(
    `answers every generated and fixed request as declared, never 500, and a refusal ${options.refusal ?? 'writes nothing'}`,
    async () => {
      const suite = await options.suite();
      report = await hostileInputSuite({ ...suite, runs });
      assert.equal(report.examples, suite.examples?.length ?? 0, 'fixed examples run');
    },
    options.timeoutMs ?? 240_000,
  );

  it(`reached every route with at least ${runs} generated requests, and both sides of each`, () => {
    if (!report) throw new Error('the hostile-input suite did not complete (see the test above)');
    console.log(
      report.routes
        .map((route) => `${route.route} seed ${route.seed} ${JSON.stringify(route.statuses)}`)
        .join('\n'),
    );
    const byRoute = new Map(report.routes.map((route) => [route.route, route]));
    const { routes, partial, moreThan = {} } = options.coverage;
    if (partial) {
      assert.deepEqual(
        routes.filter((route) => !byRoute.has(route)),
        [],
        'routes the suite did not reach',
      );
    } else assert.deepEqual([...byRoute.keys()].sort(), [...routes].sort(), 'routes reached');
    assert.deepEqual(
      report.routes.filter((route) => route.requests < runs).map((route) => route.route),
      [],
      `routes that got fewer than ${runs} generated requests`,
    );
    for (const [name, bounds] of Object.entries(moreThan)) {
      const route = byRoute.get(name);
      if (!route) throw new Error(`coverage names ${name}, which the suite did not reach`);
      for (const [statuses, bound] of Object.entries(bounds)) {
        const count = answered(route, statuses);
        // The failure says which side of which route the generation missed.
        if (count <= bound) {
          throw new Error(`${name}: ${count} answers ${statuses}, expected more than ${bound}`);
        }
      }
    }
  });
}
