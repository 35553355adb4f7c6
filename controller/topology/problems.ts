// Validation collects every problem it finds instead of stopping at the
// first, so a NOC engineer fixes a whole file in one pass; the problems then
// travel as ONE SwitchbackError whose field/line are those of the first
// problem (in file order) and whose message lists all of them, one per line.

import { SwitchbackError } from '../../common/errors.js';

export interface Problem {
  /** Dotted path of the offending field (`links[2].cost`); '' when unknown. */
  field: string;
  /** What is wrong and what is expected. */
  message: string;
  source?: string;
  /** 1-based line in `source`, where known. */
  line?: number;
}

/** More than this many problems are summarised as "... and N more". */
export const MAX_PROBLEMS_LISTED = 25;

export function formatProblem(p: Problem): string {
  const where = p.source ? `${p.source}${p.line ? `:${p.line}` : ''}: ` : '';
  return `${where}${p.field ? `${p.field}: ` : ''}${p.message}`;
}

/** Problems in file order (those without a line last, otherwise as found). */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((x, y) => (x.p.line ?? Infinity) - (y.p.line ?? Infinity) || x.i - y.i)
    .map((x) => x.p);
}

/** One INVALID_ARGUMENT error for a non-empty list of problems. */
export function problemsError(problems: readonly Problem[]): SwitchbackError {
  if (problems.length === 0) throw new Error('problemsError needs at least one problem');
  const sorted = sortProblems(problems);
  const first = sorted[0];
  const listed = sorted.slice(1, MAX_PROBLEMS_LISTED).map(formatProblem);
  if (sorted.length > MAX_PROBLEMS_LISTED) listed.push(`... and ${sorted.length - MAX_PROBLEMS_LISTED} more problems`);
  // SwitchbackError prefixes "source:line: " itself, and the field too unless
  // the message already holds it; the first line carries the field so later
  // lines naming the same field cannot suppress it.
  const head = first.field ? `${first.field}: ${first.message}` : first.message;
  const message = [head, ...listed].join('\n');
  return new SwitchbackError('INVALID_ARGUMENT', message, {
    field: first.field || undefined,
    source: first.source,
    line: first.line,
  });
}

/** Edit distance, for "did you mean" hints on typos (`cots` -> `cost`). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The closest candidate to a misspelt word, if one is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const allowed = word.length <= 3 ? 1 : word.length <= 6 ? 2 : 3;
  return bestD <= allowed ? best : undefined;
}

export const didYouMean = (word: string, candidates: Iterable<string>): string => {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean '${c}'?)`;
};

/** User text quoted for a message; control characters escaped, long text cut. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const cut = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    // eslint-disable-next-line no-control-regex
    return /^[\x20-\x7e]*$/.test(cut) && !cut.includes("'") ? `'${cut}'` : JSON.stringify(cut);
  }
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
