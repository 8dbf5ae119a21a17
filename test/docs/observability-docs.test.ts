import { readFileSync } from 'node:fs';
import { Registry, collectDefaultMetrics } from 'prom-client';
import t from 'tap';
import { parse } from 'yaml';
import { forwarderMetrics } from '../../src/observability/forwarder-metrics.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { openWal } from '../support/wal.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Exposed {
  readonly type: string;
  readonly labels: readonly string[];
}

/** Every metric a running LogStack exposes, with its type and label names, from its real registries. */
async function exposedMetrics(dir: string): Promise<Map<string, Exposed>> {
  const metrics = createMetrics();
  const wal = await openWal(dir);
  try {
    metrics.readWalFrom(wal);
    forwarderMetrics(metrics.registry, { forwarder: () => undefined, lokiUp: () => true });
    const out = new Map<string, Exposed>();
    for (const { name, type } of await metrics.registry.getMetricsAsJSON()) {
      const metric = metrics.registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] };
      out.set(name, { type: String(type), labels: metric.labelNames ?? [] });
    }
    return out;
  } finally {
    await wal.close();
  }
}

async function defaultMetricNames(): Promise<Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Series name → the metric it belongs to: a histogram is queried only through its suffixed series. */
function seriesNames(exposed: ReadonlyMap<string, Exposed>): Map<string, string> {
  const series = new Map<string, string>();
  for (const [name, { type }] of exposed) for (const suffix of type === 'histogram' ? HISTOGRAM_SUFFIXES : ['']) series.set(name + suffix, name);
  return series;
}

/** Series Prometheus itself writes for every target, with the labels it gives them. */
const SCRAPE_SERIES = new Map([['up', ['job', 'instance']]]);
const TARGET_LABELS = ['job', 'instance'];

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

interface Selector {
  readonly series: string;
  readonly labels: readonly string[];
}

/**
 * The series a PromQL expression reads, with the label names its matchers use. Strings,
 * Grafana variables, ranges and grouping clauses are removed first; every identifier left that
 * is not a function call or a keyword names a series.
 */
function selectorsOf(expr: string): Selector[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{?\w+\}?/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, '');
  const out: Selector[] = [];
  for (const m of text.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()\s*(\{[^}]*\})?/g)) {
    const name = m[1]!;
    if (KEYWORDS.has(name)) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    out.push({ series: name, labels });
  }
  return out;
}

/** A Grafana `label_values(selector, label)` query: its selector is PromQL, its label must exist. */
function grafanaQuery(query: string): { expr: string; label: string | null } {
  const m = /^\s*label_values\(\s*(?:(.*),)?\s*([a-zA-Z_]\w*)\s*\)\s*$/.exec(query);
  return m ? { expr: m[1] ?? '', label: m[2]! } : { expr: query, label: null };
}

/** Problems with one expression: unknown series, or label matchers the metric does not have. */
function checkExpr(expr: string, exposed: ReadonlyMap<string, Exposed>, extraLabel: string | null = null): string[] {
  const series = seriesNames(exposed);
  const problems: string[] = [];
  const selectors = selectorsOf(expr);
  for (const { series: name, labels } of selectors) {
    const scrape = SCRAPE_SERIES.get(name);
    const metric = series.get(name);
    if (scrape === undefined && metric === undefined) {
      problems.push(`${name} is not a series LogStack exposes`);
      continue;
    }
    const allowed = new Set([...(scrape ?? exposed.get(metric!)!.labels), ...TARGET_LABELS, ...(name.endsWith('_bucket') ? ['le'] : [])]);
    for (const label of labels) if (!allowed.has(label)) problems.push(`${name} has no label ${label}`);
  }
  if (extraLabel !== null) {
    const metric = selectors[0] && series.get(selectors[0].series);
    if (!metric || !new Set([...exposed.get(metric)!.labels, ...TARGET_LABELS]).has(extraLabel)) problems.push(`label_values: no label ${extraLabel} on ${selectors[0]?.series}`);
  }
  return problems;
}

function promqlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/^\s*#.*$/gm, ''));
}

interface Panel {
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** GitHub's anchor of a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

interface AlertRule {
  alert: string;
  expr: string;
  annotations?: Record<string, string>;
}

const alertRules = (): AlertRule[] => (parse(read('docs/prometheus/alerts.yml')) as { groups: Array<{ rules: AlertRule[] }> }).groups.flatMap((g) => g.rules);

t.test('the expression check itself finds unknown series and labels', async (t) => {
  const exposed = new Map<string, Exposed>([
    ['logs_ingested_total', { type: 'counter', labels: ['token'] }],
    ['http_request_duration_seconds', { type: 'histogram', labels: ['route'] }],
  ]);
  t.same(checkExpr('sum by (token) (rate(logs_ingested_total{token=~"$token"}[$__rate_interval])) > 1e3', exposed), []);
  t.same(checkExpr('histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route="/x"}[5m])))', exposed), []);
  t.same(checkExpr('rate(logs_ingested_totl[5m])', exposed), ['logs_ingested_totl is not a series LogStack exposes']);
  t.same(checkExpr('rate(http_request_duration_seconds[5m])', exposed), ['http_request_duration_seconds is not a series LogStack exposes'], 'a histogram has no bare series');
  t.same(checkExpr('logs_ingested_total{reason="x"}', exposed), ['logs_ingested_total has no label reason']);
  t.same(checkExpr('up{job="logstack"} == 0 unless on (instance) logs_ingested_total offset 5m', exposed), []);
});

t.test('the dashboard, the alerts and the guides name only metrics LogStack exposes, by labels they have', async (t) => {
  const exposed = await exposedMetrics(t.testdir());
  const sources: Array<[where: string, expr: string, label?: string | null]> = [];

  const dashboard = JSON.parse(read('docs/grafana/logstack-dashboard.json')) as { panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: unknown }> } };
  for (const panel of allPanels(dashboard.panels)) for (const target of panel.targets ?? []) sources.push([`dashboard panel "${panel.title}"`, target.expr ?? '']);
  for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query;
    const { expr, label } = grafanaQuery(query);
    sources.push([`dashboard variable ${variable.name}`, expr, label]);
  }
  for (const rule of alertRules()) sources.push([`alert ${rule.alert}`, rule.expr]);
  for (const doc of ['docs/metrics.md', 'docs/operations.md']) for (const block of promqlBlocks(read(doc))) sources.push([doc, block]);

  t.ok(sources.length > 50, `${sources.length} expressions found`);
  for (const [where, expr, label] of sources) {
    t.ok(selectorsOf(expr).length > 0, `${where} reads some series`);
    t.same(checkExpr(expr, exposed, label ?? null), [], where);
  }
});

t.test('docs/metrics.md documents every LogStack metric with its type and labels', async (t) => {
  const exposed = await exposedMetrics(t.testdir());
  const defaults = await defaultMetricNames();
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const m of read('docs/metrics.md').matchAll(/^\| `([a-z_:]+)` \| (\w+) \| ([^|]*) \|/gm)) {
    rows.set(m[1]!, { type: m[2]!, labels: [...m[3]!.matchAll(/`(\w+)`/g)].map((l) => l[1]!).sort() });
  }
  for (const [name, { type, labels }] of exposed) {
    const row = rows.get(name);
    if (row === undefined) {
      if (!defaults.has(name)) t.fail(`${name} is not documented in docs/metrics.md`);
      continue;
    }
    t.same(row, { type, labels: [...labels].sort() }, name);
  }
  for (const name of rows.keys()) t.ok(exposed.has(name), `documented ${name} is exposed`);
});

t.test('the dashboard is importable: Prometheus through the datasource variable, a token variable', async (t) => {
  const dashboard = JSON.parse(read('docs/grafana/logstack-dashboard.json')) as {
    uid: string;
    schemaVersion: number;
    panels: Panel[];
    templating: { list: Array<{ name: string; type: string; query: unknown }> };
  };
  t.ok(dashboard.schemaVersion >= 36, 'a schema Grafana 9 and later reads');
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  t.match(variables.get('datasource'), { type: 'datasource', query: 'prometheus' });
  t.match(variables.get('token'), { type: 'query' });
  const withQueries = allPanels(dashboard.panels).filter((p) => (p.targets ?? []).length > 0);
  for (const panel of withQueries) {
    t.same(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${panel.title}"`);
    for (const target of panel.targets!) t.equal(target.datasource?.uid, '${datasource}', `a query of "${panel.title}"`);
  }
});

t.test('every alert links to its section of the runbook', async (t) => {
  const runbook = read('docs/operations.md');
  const anchors = anchorsOf(runbook);
  const headings = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.trim()));
  const rules = alertRules();
  t.ok(rules.length > 0);
  for (const rule of rules) {
    const name = rule.alert;
    t.ok(headings.has(name), `docs/operations.md has a section "${name}"`);
    t.equal(rule.annotations?.runbook_url, `docs/operations.md#${slug(name)}`, `${name} links to it`);
    t.ok(rule.annotations?.summary, `${name} has a summary`);
  }
  for (const [, anchor] of runbook.matchAll(/\]\(#([^)]+)\)/g)) t.ok(anchors.has(anchor!), `link #${anchor} leads to a heading`);
});
