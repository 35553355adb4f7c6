// A strict parser of the Prometheus text exposition format (0.0.4), for
// tests that scrape /metrics: it refuses what a Prometheus server would
// refuse or silently mangle (bad names, bad escapes, a family split in two,
// a TYPE after its samples, duplicate series, histogram buckets that are not
// cumulative or lack +Inf), so a test that parses the output proves the
// endpoint is scrapable, not just that a regexp found a number.
import { invalid } from '../../common/errors.js';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum` for a histogram `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

function fail(line: number, msg: string): never {
  throw invalid('metrics', msg, { source: 'exposition', line });
}

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) fail(line, `'${s}' is not a number`);
  return Number(s);
}

function unescape(s: string, line: number, quote: boolean): string {
  return s.replace(/\\(.?)/g, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quote) return '"';
    return fail(line, `bad escape '\\${c}'`);
  });
}

function parseSample(text: string, line: number): Sample {
  const m = NAME.exec(text);
  if (!m) fail(line, `no metric name in '${text}'`);
  const name = m[0];
  let rest = text.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.replace(/^\s+/, '');
      if (rest.startsWith('}')) break;
      const l = LABEL.exec(rest);
      if (!l) fail(line, `bad label name in '${text}'`);
      if (l[0] in labels) fail(line, `label '${l[0]}' given twice`);
      rest = rest.slice(l[0].length).replace(/^\s+/, '');
      if (!rest.startsWith('="')) fail(line, `label '${l[0]}' has no quoted value`);
      const v = /^="((?:[^"\\\n]|\\.)*)"/.exec(rest);
      if (!v) fail(line, `unterminated value of label '${l[0]}'`);
      labels[l[0]] = unescape(v[1]!, line, true);
      rest = rest.slice(v[0].length).replace(/^\s+/, '');
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) fail(line, `expected ',' or '}' after label '${l[0]}'`);
    }
    rest = rest.slice(1);
  }
  if (!/^[ \t]/.test(rest)) fail(line, `no value after '${name}'`);
  const parts = rest.trim().split(/[ \t]+/);
  if (parts.length > 2) fail(line, `trailing text '${parts.slice(2).join(' ')}'`);
  const sample: Sample = { name, labels, value: parseValue(parts[0]!, line) };
  if (parts[1] !== undefined) {
    if (!/^-?\d+$/.test(parts[1])) fail(line, `bad timestamp '${parts[1]}'`);
    sample.timestampMs = Number(parts[1]);
  }
  return sample;
}

/** Parses an exposition; families by name, in order of appearance. */
export function parsePromText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  let current: MetricFamily | undefined;
  const open = (name: string, line: number): MetricFamily => {
    if (current?.name === name) return current;
    if (finished.has(name) || families.has(name)) fail(line, `metric family '${name}' appears in two places`);
    if (current) finished.add(current.name);
    current = { name, type: 'untyped', samples: [] };
    families.set(name, current);
    return current;
  };
  const seen = new Set<string>();
  const typed = new Set<string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  else if (text.length) fail(lines.length, 'the exposition must end with a newline');
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (/^\s*$/.test(raw)) return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, arg = ''] = m;
      if (!NAME.test(name!) || NAME.exec(name!)![0] !== name) fail(line, `bad metric name '${name}'`);
      const f = open(name!, line);
      if (kind === 'HELP') {
        if (f.help !== undefined) fail(line, `second HELP for '${name}'`);
        f.help = unescape(arg, line, false);
      } else {
        if (f.samples.length) fail(line, `TYPE of '${name}' after its samples`);
        if (typed.has(f.name)) fail(line, `second TYPE for '${name}'`);
        if (!TYPES.has(arg.trim() as MetricType)) fail(line, `unknown type '${arg}'`);
        f.type = arg.trim() as MetricType;
        typed.add(f.name);
      }
      return;
    }
    const s = parseSample(raw, line);
    const belongs = current && SUFFIXES[current.type].some((suf) => current!.name + suf === s.name);
    const f = belongs ? current! : open(s.name, line);
    if (!SUFFIXES[f.type].some((suf) => f.name + suf === s.name)) fail(line, `sample '${s.name}' does not belong to ${f.type} '${f.name}'`);
    const key = `${s.name}{${Object.entries(s.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (seen.has(key)) fail(line, `duplicate series ${key}`);
    seen.add(key);
    if (f.type === 'counter' && !(s.value >= 0)) fail(line, `counter '${s.name}' is ${s.value}`);
    if (f.type === 'histogram' && s.name.endsWith('_bucket') && s.labels.le === undefined) fail(line, `bucket without 'le'`);
    f.samples.push(s);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** Buckets per series: ascending `le`, cumulative counts, +Inf equal to _count. */
function checkHistogram(f: MetricFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const e = series.get(key) ?? { buckets: [] };
    series.set(key, e);
    if (s.name.endsWith('_bucket')) e.buckets.push([parseValue(le!, 0), s.value]);
    else if (s.name.endsWith('_count')) e.count = s.value;
    else e.sum = s.value;
  }
  for (const [key, e] of series) {
    const where = `histogram '${f.name}' ${key}`;
    if (e.count === undefined || e.sum === undefined) fail(0, `${where} lacks _count or _sum`);
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i]![0] > e.buckets[i - 1]![0])) fail(0, `${where}: le not ascending`);
      if (e.buckets[i]![1] < e.buckets[i - 1]![1]) fail(0, `${where}: buckets not cumulative`);
    }
    const inf = e.buckets.at(-1);
    if (!inf || inf[0] !== Infinity) fail(0, `${where} lacks the +Inf bucket`);
    if (inf[1] !== e.count) fail(0, `${where}: +Inf bucket ${inf[1]} != _count ${e.count}`);
  }
}

/** The value of one series (labels must match exactly, `le` aside for non-buckets); undefined when absent. */
export function sampleValue(families: Map<string, MetricFamily>, family: string, labels: Record<string, string> = {}, sampleName = family): number | undefined {
  const f = families.get(family);
  const want = JSON.stringify(Object.entries(labels).sort());
  return f?.samples.find((s) => s.name === sampleName && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
