import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** The services, as Prometheus's `job` label names them (the ServiceMonitors' Service names). */
export const SERVICES = [
  'gateway-ratelimit',
  'product-api-cache',
  'auth-session',
  'inventory-lock',
  'game-leaderboard',
  'chat-realtime',
] as const;
export type Service = (typeof SERVICES)[number];

/** Latency budgets (p99, seconds) the dashboards draw and the alert rules enforce. */
export const P99_BUDGET_S = { service: 0.5, gatewayUpstream: 0.25 };

/** One query of a panel: a PromQL expression and the legend of each series it returns. */
interface Query {
  expr: string;
  legend: string;
}

/** A panel as this file describes it; `panel()` turns it into the SDK's builder. */
interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** A single number (current value) instead of a time series. @default 'timeseries' */
  kind?: 'timeseries' | 'stat';
  /** Stack the series (parts of one total). @default false */
  stacked?: boolean;
  /** A red line at this value (a budget or a threshold). */
  threshold?: number;
  /** Width in grid columns of 24. @default 12 */
  span?: number;
}

interface Section {
  title: string;
  panels: PanelSpec[];
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** The selector every query of a service's dashboard carries. */
const on = (service: Service) => `job="${service}", instance=~"$instance"`;
const RATE = '$__rate_interval';

function panel(spec: PanelSpec) {
  const targets = spec.queries.map((query, index) =>
    new DataqueryBuilder()
      .expr(query.expr)
      .legendFormat(query.legend)
      .refId(String.fromCharCode(65 + index))
      .datasource(DATASOURCE),
  );
  const thresholds = new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps([
      { value: null, color: 'green' },
      ...(spec.threshold === undefined ? [] : [{ value: spec.threshold, color: 'red' }]),
    ]);
  if (spec.kind === 'stat') {
    const builder = new stat.PanelBuilder()
      .title(spec.title)
      .description(spec.description)
      .unit(spec.unit)
      .datasource(DATASOURCE)
      .span(spec.span ?? 6)
      .height(5)
      .graphMode(common.BigValueGraphMode.Area)
      .colorMode(common.BigValueColorMode.Value)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
      .thresholds(thresholds);
    for (const target of targets) builder.withTarget(target);
    return builder;
  }
  const builder = new timeseries.PanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(DATASOURCE)
    .span(spec.span ?? 12)
    .height(8)
    .min(0)
    .fillOpacity(spec.stacked ? 40 : 10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    )
    .stacking(
      new common.StackingConfigBuilder().mode(
        spec.stacked ? common.StackingMode.Normal : common.StackingMode.None,
      ),
    )
    .thresholds(thresholds)
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(
        spec.threshold === undefined
          ? common.GraphThresholdsStyleMode.Off
          : common.GraphThresholdsStyleMode.Line,
      ),
    );
  for (const target of targets) builder.withTarget(target);
  return builder;
}

/** What every service serves through service-kit: HTTP traffic, errors, latency, the process. */
function httpSection(service: Service): Section {
  // Server-Sent Events streams stay open for minutes: they are not request latency.
  const timed = `${on(service)}, route!~".*/stream"`;
  return {
    title: 'HTTP (service-kit: every route but /metrics and /health/*)',
    panels: [
      {
        title: 'Replicas up',
        description: 'Targets Prometheus scrapes successfully, of those it knows.',
        unit: 'short',
        kind: 'stat',
        queries: [
          { expr: `sum(up{${on(service)}})`, legend: 'up' },
          { expr: `count(up{${on(service)}})`, legend: 'known' },
        ],
      },
      {
        title: 'Requests per second',
        description: 'All replicas together.',
        unit: 'reqps',
        kind: 'stat',
        queries: [
          {
            expr: `sum(rate(http_request_duration_seconds_count{${on(service)}}[${RATE}]))`,
            legend: 'req/s',
          },
        ],
      },
      {
        title: '5xx ratio',
        description:
          'Share of responses with a 5xx status (an unavailable dependency answers 503).',
        unit: 'percentunit',
        kind: 'stat',
        threshold: 0.05,
        queries: [
          {
            expr:
              `sum(rate(http_request_duration_seconds_count{${on(service)}, status_code=~"5.."}[${RATE}]))` +
              ` / sum(rate(http_request_duration_seconds_count{${on(service)}}[${RATE}]))`,
            legend: '5xx',
          },
        ],
      },
      {
        title: 'p99 latency',
        description: `All routes but streams; the alert budget is ${P99_BUDGET_S.service * 1000} ms.`,
        unit: 's',
        kind: 'stat',
        threshold: P99_BUDGET_S.service,
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{${timed}}[${RATE}])))`,
            legend: 'p99',
          },
        ],
      },
      {
        title: 'Requests by route and status',
        description: 'Per route (Fastify route pattern) and status code.',
        unit: 'reqps',
        stacked: true,
        queries: [
          {
            expr: `sum by (route, status_code) (rate(http_request_duration_seconds_count{${on(service)}}[${RATE}]))`,
            legend: '{{route}} {{status_code}}',
          },
        ],
      },
      {
        title: 'Errors by route',
        description: '4xx are refusals the API promises (validation, 401, 409, 429); 5xx are not.',
        unit: 'reqps',
        stacked: true,
        queries: [
          {
            expr: `sum by (route, status_code) (rate(http_request_duration_seconds_count{${on(service)}, status_code=~"[45].."}[${RATE}]))`,
            legend: '{{route}} {{status_code}}',
          },
        ],
      },
      {
        title: 'p50 by route',
        description: 'Median request duration per route.',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket{${timed}}[${RATE}])))`,
            legend: '{{route}}',
          },
        ],
      },
      {
        title: 'p99 by route',
        description: `99th percentile per route; the red line is the ${P99_BUDGET_S.service * 1000} ms budget.`,
        unit: 's',
        threshold: P99_BUDGET_S.service,
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{${timed}}[${RATE}])))`,
            legend: '{{route}}',
          },
        ],
      },
      {
        title: 'CPU per replica',
        description: 'Process CPU seconds per second (1 = one core).',
        unit: 'short',
        span: 8,
        queries: [
          {
            expr: `sum by (instance) (rate(process_cpu_seconds_total{${on(service)}}[${RATE}]))`,
            legend: '{{instance}}',
          },
        ],
      },
      {
        title: 'Resident memory per replica',
        description: 'RSS of each replica.',
        unit: 'bytes',
        span: 8,
        queries: [
          {
            expr: `max by (instance) (process_resident_memory_bytes{${on(service)}})`,
            legend: '{{instance}}',
          },
        ],
      },
      {
        title: 'Event loop lag p99 per replica',
        description: 'A blocked event loop delays every request of that replica.',
        unit: 's',
        span: 8,
        queries: [
          {
            expr: `max by (instance) (nodejs_eventloop_lag_p99_seconds{${on(service)}})`,
            legend: '{{instance}}',
          },
        ],
      },
    ],
  };
}

/** Each service's own pattern, over the metrics its code registers. */
function patternSection(service: Service): Section {
  const s = on(service);
  const rate = (selector: string, by: string, legend: string): Query => ({
    expr: `sum by (${by}) (rate(${selector}[${RATE}]))`,
    legend,
  });
  switch (service) {
    case 'gateway-ratelimit':
      return {
        title: 'Rate limiting and proxying',
        panels: [
          {
            title: 'Rate-limit decisions',
            description:
              'allowed, limited (429), fail_open (Redis away: admitted unlimited), fail_closed (Redis away: 503).',
            unit: 'reqps',
            stacked: true,
            queries: [rate(`ratelimit_decisions_total{${s}}`, 'result', '{{result}}')],
          },
          {
            title: 'Limited by policy',
            description: '429s per policy (tier).',
            unit: 'reqps',
            queries: [
              rate(`ratelimit_decisions_total{${s}, result="limited"}`, 'policy', '{{policy}}'),
            ],
          },
          {
            title: 'Limiter failing open or closed',
            description: 'Non-zero only while the limiter cannot reach Redis within its timeout.',
            unit: 'reqps',
            queries: [
              rate(
                `ratelimit_decisions_total{${s}, result=~"fail_open|fail_closed"}`,
                'result, policy',
                '{{result}} {{policy}}',
              ),
            ],
          },
          {
            title: 'Upstream p99 (to response headers)',
            description: `Per upstream service; the alert budget is ${P99_BUDGET_S.gatewayUpstream * 1000} ms.`,
            unit: 's',
            threshold: P99_BUDGET_S.gatewayUpstream,
            queries: [
              {
                expr: `histogram_quantile(0.99, sum by (upstream, le) (rate(gateway_upstream_duration_seconds_bucket{${s}}[${RATE}])))`,
                legend: '{{upstream}}',
              },
            ],
          },
          {
            title: 'Upstream requests by outcome',
            description: 'Per upstream and outcome of the proxied request.',
            unit: 'reqps',
            stacked: true,
            queries: [
              rate(
                `gateway_upstream_duration_seconds_count{${s}}`,
                'upstream, outcome',
                '{{upstream}} {{outcome}}',
              ),
            ],
          },
        ],
      };
    case 'product-api-cache':
      return {
        title: 'Cache-aside',
        panels: [
          {
            title: 'Cache hit ratio',
            description: 'Reads answered from the cache (hit or stale) of all cached reads.',
            unit: 'percentunit',
            queries: [
              {
                expr:
                  `sum(rate(cache_requests_total{${s}, result=~"hit|stale"}[${RATE}]))` +
                  ` / sum(rate(cache_requests_total{${s}}[${RATE}]))`,
                legend: 'hit ratio',
              },
            ],
          },
          {
            title: 'Cached reads by result',
            description:
              'hit, stale (served while one reader refreshes), miss (loaded from PostgreSQL), bypass (Redis away: straight to PostgreSQL).',
            unit: 'reqps',
            stacked: true,
            queries: [rate(`cache_requests_total{${s}}`, 'result', '{{result}}')],
          },
          {
            title: 'PostgreSQL statements by query',
            description: 'What the cache saves: every statement sent to PostgreSQL.',
            unit: 'short',
            stacked: true,
            queries: [rate(`db_queries_total{${s}}`, 'query', '{{query}}')],
          },
        ],
      };
    case 'auth-session':
      return {
        title: 'Sessions',
        panels: [
          {
            title: 'Active sessions',
            description:
              'Logged-in sessions across all replicas (each replica reports the same count).',
            unit: 'short',
            queries: [{ expr: `max(sessions_active{${s}})`, legend: 'sessions' }],
          },
          {
            title: 'Session lookups by result',
            description: 'hit, miss, expired, error (store unavailable: the request gets 503).',
            unit: 'reqps',
            stacked: true,
            queries: [rate(`session_lookups_total{${s}}`, 'result', '{{result}}')],
          },
          {
            title: 'Logins by result',
            description: 'success, invalid_credentials, locked (lockout), unavailable.',
            unit: 'reqps',
            stacked: true,
            queries: [rate(`logins_total{${s}}`, 'result', '{{result}}')],
          },
        ],
      };
    case 'inventory-lock':
      return {
        title: 'Redlock and fencing',
        panels: [
          {
            title: 'Lock wait p50 / p99',
            description: 'Time to acquire a sku lock, retries included.',
            unit: 's',
            queries: [
              {
                expr: `histogram_quantile(0.5, sum by (le) (rate(lock_acquire_seconds_bucket{${s}}[${RATE}])))`,
                legend: 'p50',
              },
              {
                expr: `histogram_quantile(0.99, sum by (le) (rate(lock_acquire_seconds_bucket{${s}}[${RATE}])))`,
                legend: 'p99',
              },
            ],
          },
          {
            title: 'Lock acquisitions by result',
            description:
              'acquired, contended (retry budget spent), unavailable (no quorum of Redlock masters).',
            unit: 'short',
            stacked: true,
            queries: [rate(`lock_acquire_total{${s}}`, 'result', '{{result}}')],
          },
          {
            title: 'Fencing rejections',
            description:
              'Writes PostgreSQL refused because a later lock holder had stamped the row (a holder paused past its lease).',
            unit: 'short',
            queries: [
              {
                expr: `sum(increase(fencing_rejections_total{${s}}[${RATE}]))`,
                legend: 'rejected writes',
              },
            ],
          },
          {
            title: 'Reservations by result',
            description:
              'created, repeated, insufficient, not_found, conflict, lock_failed, fenced, error.',
            unit: 'reqps',
            stacked: true,
            queries: [rate(`reservations_total{${s}}`, 'result', '{{result}}')],
          },
          {
            title: 'Redlock masters refused',
            description:
              'Masters found unfit (a replica, a Cluster node, Sentinel-managed): they get no vote.',
            unit: 'short',
            queries: [
              { expr: `max by (instance) (redlock_masters_refused{${s}})`, legend: '{{instance}}' },
            ],
          },
        ],
      };
    case 'game-leaderboard':
      return {
        title: 'Leaderboards',
        panels: [
          {
            title: 'Score submissions by mode',
            description: 'Accepted submissions per second (best keeps the max, increment adds).',
            unit: 'short',
            stacked: true,
            queries: [rate(`leaderboard_updates_total{${s}}`, 'mode', '{{mode}}')],
          },
          {
            title: 'Reads by kind',
            description: 'top, rank, around, ranks, stream.',
            unit: 'short',
            stacked: true,
            queries: [rate(`leaderboard_queries_total{${s}}`, 'kind', '{{kind}}')],
          },
        ],
      };
    case 'chat-realtime':
      return {
        title: 'Chat',
        panels: [
          {
            title: 'Connected sockets',
            description: 'Per replica and in total.',
            unit: 'short',
            queries: [
              { expr: `sum(chat_connected_sockets{${s}})`, legend: 'total' },
              { expr: `max by (instance) (chat_connected_sockets{${s}})`, legend: '{{instance}}' },
            ],
          },
          {
            title: 'Message sends by result',
            description:
              'stored, duplicate, rate_limited, invalid, unavailable (Redis away), error.',
            unit: 'short',
            stacked: true,
            queries: [rate(`chat_messages_total{${s}}`, 'result', '{{result}}')],
          },
          {
            title: 'Cross-replica deliveries per second',
            description:
              'Messages handed to a socket on another replica than the one that stored them.',
            unit: 'short',
            queries: [
              {
                expr: `sum(rate(chat_delivery_seconds_count{${s}}[${RATE}]))`,
                legend: 'deliveries',
              },
            ],
          },
          {
            title: 'Delivery p50 / p99',
            description: 'From storing a message to handing it to a socket on another replica.',
            unit: 's',
            queries: [
              {
                expr: `histogram_quantile(0.5, sum by (le) (rate(chat_delivery_seconds_bucket{${s}}[${RATE}])))`,
                legend: 'p50',
              },
              {
                expr: `histogram_quantile(0.99, sum by (le) (rate(chat_delivery_seconds_bucket{${s}}[${RATE}])))`,
                legend: 'p99',
              },
            ],
          },
        ],
      };
  }
}

function datasourceVariable() {
  return new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus');
}

function linksTo(tag: string) {
  return new DashboardLinkBuilder('redis-patterns')
    .type(DashboardLinkType.Dashboards)
    .tags([tag])
    .asDropdown(true)
    .includeVars(false)
    .keepTime(true);
}

function base(uid: string, title: string, description: string) {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['redis-patterns', 'generated'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .link(linksTo('redis-patterns'))
    .withVariable(datasourceVariable());
}

/** Rows and panels in order, with ids fixed here so links to a panel survive regeneration. */
function withSections(builder: DashboardBuilder, sections: Section[]): DashboardBuilder {
  let id = 0;
  for (const section of sections) {
    builder.withRow(new RowBuilder(section.title).id((id += 1)));
    for (const spec of section.panels) builder.withPanel(panel(spec).id((id += 1)));
  }
  return builder;
}

/** One service's dashboard: its HTTP traffic and process, then its pattern's own metrics. */
export function serviceDashboard(service: Service): Dashboard {
  const builder = base(
    `redis-patterns-${service}`,
    `redis-patterns / ${service}`,
    `${service}: traffic, errors and latency by route, then the metrics of its Redis pattern. Generated by tools/deploy-checks (npm run observability -w tools/deploy-checks); do not edit by hand.`,
  ).withVariable(
    new QueryVariableBuilder('instance')
      .label('Replica')
      .datasource(DATASOURCE)
      .query(`label_values(up{job="${service}"}, instance)`)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*'),
  );
  return withSections(builder, [httpSection(service), patternSection(service)]).build();
}

/** Every service on one page: health, traffic, errors, latency, and each pattern's key signal. */
export function systemDashboard(): Dashboard {
  const jobs = `job=~"${SERVICES.join('|')}"`;
  const perJob = (expr: string): Query => ({ expr, legend: '{{job}}' });
  const sections: Section[] = [
    {
      title: 'Health',
      panels: [
        {
          title: 'Replicas up by service',
          description: 'Scraped successfully, per service.',
          unit: 'short',
          span: 8,
          queries: [perJob(`sum by (job) (up{${jobs}})`)],
        },
        {
          title: 'Requests per second by service',
          description: 'The gateway counts every external request once more, as it proxies it.',
          unit: 'reqps',
          span: 8,
          stacked: true,
          queries: [
            perJob(`sum by (job) (rate(http_request_duration_seconds_count{${jobs}}[${RATE}]))`),
          ],
        },
        {
          title: '5xx ratio by service',
          description: 'The error-rate alert fires above 5% for 5 minutes.',
          unit: 'percentunit',
          span: 8,
          threshold: 0.05,
          queries: [
            perJob(
              `sum by (job) (rate(http_request_duration_seconds_count{${jobs}, status_code=~"5.."}[${RATE}]))` +
                ` / sum by (job) (rate(http_request_duration_seconds_count{${jobs}}[${RATE}]))`,
            ),
          ],
        },
        {
          title: 'p99 by service',
          description: `All routes but streams; budget ${P99_BUDGET_S.service * 1000} ms.`,
          unit: 's',
          span: 12,
          threshold: P99_BUDGET_S.service,
          queries: [
            perJob(
              `histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{${jobs}, route!~".*/stream"}[${RATE}])))`,
            ),
          ],
        },
        {
          title: 'Redis unavailable, as each service sees it',
          description:
            'Decisions and reads made without Redis: the limiter failing open or closed, cache reads bypassing to PostgreSQL, session lookups and logins refused, locks without quorum, chat sends refused.',
          unit: 'short',
          span: 12,
          queries: [
            {
              expr: `sum by (result) (rate(ratelimit_decisions_total{${jobs}, result=~"fail_open|fail_closed"}[${RATE}]))`,
              legend: 'gateway {{result}}',
            },
            {
              expr: `sum(rate(cache_requests_total{${jobs}, result="bypass"}[${RATE}]))`,
              legend: 'cache bypass',
            },
            {
              expr: `sum(rate(session_lookups_total{${jobs}, result="error"}[${RATE}]))`,
              legend: 'session lookup error',
            },
            {
              expr: `sum(rate(logins_total{${jobs}, result="unavailable"}[${RATE}]))`,
              legend: 'login unavailable',
            },
            {
              expr: `sum(rate(lock_acquire_total{${jobs}, result="unavailable"}[${RATE}]))`,
              legend: 'lock without quorum',
            },
            {
              expr: `sum(rate(chat_messages_total{${jobs}, result="unavailable"}[${RATE}]))`,
              legend: 'chat send unavailable',
            },
          ],
        },
      ],
    },
    {
      title: 'Patterns',
      panels: [
        {
          title: 'Cache hit ratio',
          description: 'product-api-cache: hit or stale of all cached reads.',
          unit: 'percentunit',
          kind: 'stat',
          span: 4,
          queries: [
            {
              expr:
                `sum(rate(cache_requests_total{${jobs}, result=~"hit|stale"}[${RATE}]))` +
                ` / sum(rate(cache_requests_total{${jobs}}[${RATE}]))`,
              legend: 'hit ratio',
            },
          ],
        },
        {
          title: 'Rate-limited per second',
          description: 'gateway-ratelimit: 429s.',
          unit: 'reqps',
          kind: 'stat',
          span: 4,
          queries: [
            {
              expr: `sum(rate(ratelimit_decisions_total{${jobs}, result="limited"}[${RATE}]))`,
              legend: '429/s',
            },
          ],
        },
        {
          title: 'Active sessions',
          description: 'auth-session.',
          unit: 'short',
          kind: 'stat',
          span: 4,
          queries: [{ expr: `max(sessions_active{${jobs}})`, legend: 'sessions' }],
        },
        {
          title: 'Lock wait p99',
          description: 'inventory-lock: time to acquire a sku lock.',
          unit: 's',
          kind: 'stat',
          span: 4,
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (le) (rate(lock_acquire_seconds_bucket{${jobs}}[${RATE}])))`,
              legend: 'p99',
            },
          ],
        },
        {
          title: 'Score submissions per second',
          description: 'game-leaderboard.',
          unit: 'short',
          kind: 'stat',
          span: 4,
          queries: [
            {
              expr: `sum(rate(leaderboard_updates_total{${jobs}}[${RATE}]))`,
              legend: 'submits/s',
            },
          ],
        },
        {
          title: 'Chat deliveries per second',
          description: 'chat-realtime: cross-replica deliveries.',
          unit: 'short',
          kind: 'stat',
          span: 4,
          queries: [
            {
              expr: `sum(rate(chat_delivery_seconds_count{${jobs}}[${RATE}]))`,
              legend: 'deliveries/s',
            },
          ],
        },
      ],
    },
  ];
  const builder = base(
    'redis-patterns-system',
    'redis-patterns / system overview',
    'Every service on one page: replicas, traffic, errors, latency, Redis availability as each service sees it, and each pattern’s key figure. Generated by tools/deploy-checks; do not edit by hand.',
  );
  return withSections(builder, sections).build();
}

/** Every dashboard, by the file name it is written to under deploy/observability/dashboards/. */
export function allDashboards(): { file: string; dashboard: Dashboard }[] {
  return [
    { file: 'system-overview.json', dashboard: systemDashboard() },
    ...SERVICES.map((service) => ({
      file: `${service}.json`,
      dashboard: serviceDashboard(service),
    })),
  ];
}
