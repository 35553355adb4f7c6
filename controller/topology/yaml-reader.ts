// Line-aware reading of a parsed YAML document (the `yaml` package's node
// tree) into typed values. Any YAML input we accept (topology files, the
// simulator's scenario files) goes through here, so every problem is reported
// the same way: field path, source, line, what is wrong and what is expected.
// Problems are collected, not thrown, so one pass reports them all.

import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  Parser,
  type Document,
  type Pair,
} from 'yaml';
import { closest, problemsError, show, type Problem } from './problems.js';

/** Larger inputs are refused before parsing: a topology file is kilobytes, not megabytes. */
export const MAX_YAML_BYTES = 16 * 1024 * 1024;
/**
 * Deeper collections are refused before the document is composed: the yaml
 * package recurses once per level, and after a stack overflow there its next
 * parse aborts the whole process (V8 out of memory). Found by fuzzing.
 */
export const MAX_YAML_NESTING = 64;

export interface ParsedYaml {
  doc: Document.Parsed;
  reader: YamlReader;
}

/**
 * Parses YAML text into a document, throwing one SwitchbackError
 * INVALID_ARGUMENT (with source and line) for malformed YAML.
 */
export function parseYaml(text: string, source: string): ParsedYaml {
  if (typeof text !== 'string') {
    throw problemsError([{ field: '', source, message: `expected YAML text, got ${typeof text}` }]);
  }
  if (text.length > MAX_YAML_BYTES) {
    throw problemsError([
      { field: '', source, message: `the file is ${text.length} characters long; at most ${MAX_YAML_BYTES} are accepted` },
    ]);
  }
  const deep = lineTooDeep(text, MAX_YAML_NESTING);
  if (deep !== undefined) {
    throw problemsError([{ field: '', source, line: deep, message: `collections nested more than ${MAX_YAML_NESTING} levels deep` }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const reader = new YamlReader(source, lineCounter);
  if (doc.errors.length > 0) {
    throw problemsError(
      doc.errors.map((e) => ({
        field: '',
        source,
        line: lineCounter.linePos(e.pos[0]).line,
        message: `malformed YAML: ${yamlErrorText(e.code, e.message)}`,
      })),
    );
  }
  return { doc, reader };
}

/** The line where collections first nest deeper than `limit`, from the yaml package's CST (built without recursion). */
function lineTooDeep(text: string, limit: number): number | undefined {
  const lines = new LineCounter();
  type CstNode = { type?: string; offset?: number; value?: unknown; items?: { key?: unknown; value?: unknown }[] };
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    const stack: [unknown, number][] = [[token, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (!node || typeof node !== 'object') continue;
      const n = node as CstNode;
      if (n.type === 'document') stack.push([n.value, depth]);
      else if (n.type === 'block-map' || n.type === 'block-seq' || n.type === 'flow-collection') {
        if (depth + 1 > limit) return lines.linePos(n.offset ?? 0).line;
        for (const it of n.items ?? []) stack.push([it.key, depth + 1], [it.value, depth + 1]);
      }
    }
  }
  return undefined;
}

function yamlErrorText(code: string, message: string): string {
  const first = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'DUPLICATE_KEY') return `${first} (a key appears twice in the same mapping)`;
  if (code === 'MULTIPLE_DOCS') return 'the file holds more than one YAML document (---); expected exactly one';
  if (code === 'TAB_AS_INDENT') return `${first} (indent with spaces, not tabs)`;
  return first;
}

/** A YAML node as the reader sees it: any node, a pair's value, or nothing. */
export type YNode = unknown;

export interface Range {
  min?: number;
  max?: number;
  /** Words for "expected ..." (default "an integer min-max"). */
  expected?: string;
}

export interface ReadOptions {
  required?: boolean;
}

export class YamlReader {
  readonly problems: Problem[] = [];

  constructor(
    readonly source: string,
    private readonly lineCounter?: LineCounter,
  ) {}

  /** 1-based line where a node starts, if it came from parsed text. */
  lineOf(node: YNode): number | undefined {
    const range = (node as { range?: [number, number, number] | null } | null)?.range;
    if (!range || !this.lineCounter) return undefined;
    return this.lineCounter.linePos(range[0]).line;
  }

  fail(field: string, message: string, line?: number): void {
    this.problems.push({ field, message, source: this.source, line });
  }

  /** Throws all collected problems as one SwitchbackError, if there are any. */
  throwIfProblems(): void {
    if (this.problems.length > 0) throw problemsError(this.problems);
  }

  /**
   * Reads a mapping whose keys must come from `keys`; unknown keys (typos
   * like `cots:`) are reported with a suggestion. Returns undefined (and
   * reports) when the node is not a mapping.
   */
  object(node: YNode, field: string, keys: readonly string[], what = 'a mapping', line?: number): Fields | undefined {
    if (!this.usable(node, field, line)) return undefined;
    if (!isMap(node)) {
      this.fail(field, `expected ${what}, got ${describe(node)}`, this.lineOf(node) ?? line);
      return undefined;
    }
    const pairs = new Map<string, Pair>();
    const typos = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key.value : undefined;
      const keyLine = this.lineOf(pair.key) ?? this.lineOf(node);
      if (typeof key !== 'string') {
        this.fail(field, `keys must be plain names, got ${describe(pair.key)}; expected one of: ${keys.join(', ')}`, keyLine);
        continue;
      }
      if (!keys.includes(key)) {
        const meant = closest(key, keys);
        if (meant !== undefined) typos.add(meant);
        const hint = meant === undefined ? '' : ` (did you mean '${meant}'?)`;
        this.fail(join(field, key), `unknown key ${show(key)}${hint}; expected one of: ${keys.join(', ')}`, keyLine);
        continue;
      }
      pairs.set(key, pair as Pair);
    }
    // A key reported as a likely typo is not reported missing as well.
    for (const k of pairs.keys()) typos.delete(k);
    return new Fields(this, node, field, pairs, typos);
  }

  /** Items of a sequence; an absent or empty (null) value reads as no items. */
  list(node: YNode, field: string, what: string, line?: number, opts: ReadOptions = {}): Item[] {
    if (isAbsent(node)) {
      if (opts.required) this.fail(field, `is required; expected a list of ${what}`, this.lineOf(node) ?? line);
      return [];
    }
    if (!this.usable(node, field, line)) return [];
    if (!isSeq(node)) {
      this.fail(field, `expected a list of ${what}, got ${describe(node)}`, this.lineOf(node) ?? line);
      return [];
    }
    return node.items.map((n, i) => ({ node: n, field: `${field}[${i}]`, line: this.lineOf(n) ?? this.lineOf(node) ?? line }));
  }

  string(node: YNode, field: string, expected: string, line?: number, opts: ReadOptions = {}): string | undefined {
    const v = this.scalar(node, field, expected, line, opts);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      const hint = typeof v === 'number' || typeof v === 'boolean' ? ` (write it in quotes: "${String(v)}")` : '';
      this.fail(field, `expected ${expected}, got ${describe(node)}${hint}`, this.lineOf(node) ?? line);
      return undefined;
    }
    return v;
  }

  /** An integer; the range is checked here only when given (semantic checks may own it instead). */
  integer(node: YNode, field: string, range: Range | undefined, line?: number, opts: ReadOptions = {}): number | undefined {
    const min = range?.min ?? -Infinity;
    const max = range?.max ?? Infinity;
    const expected = range?.expected ?? (range?.min !== undefined && range.max !== undefined ? `an integer ${min}-${max}` : 'an integer');
    const v = this.scalar(node, field, expected, line, opts);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(field, `expected ${expected}, got ${describe(node)}`, this.lineOf(node) ?? line);
      return undefined;
    }
    return v;
  }

  boolean(node: YNode, field: string, line?: number, opts: ReadOptions = {}): boolean | undefined {
    const v = this.scalar(node, field, 'true or false', line, opts);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.fail(field, `expected true or false, got ${describe(node)}`, this.lineOf(node) ?? line);
      return undefined;
    }
    return v;
  }

  private scalar(node: YNode, field: string, expected: string, line: number | undefined, opts: ReadOptions): unknown {
    if (isAbsent(node)) {
      if (opts.required) this.fail(field, `is required; expected ${expected}`, this.lineOf(node) ?? line);
      return undefined;
    }
    if (!this.usable(node, field, line)) return undefined;
    if (!isScalar(node)) {
      this.fail(field, `expected ${expected}, got ${describe(node)}`, this.lineOf(node) ?? line);
      return undefined;
    }
    return node.value;
  }

  /** Aliases are refused: they would let a few bytes expand into a huge tree. */
  private usable(node: YNode, field: string, line?: number): boolean {
    if (isAlias(node)) {
      this.fail(field, `YAML aliases (*${node.source}) are not supported here; write the value out`, this.lineOf(node) ?? line);
      return false;
    }
    return true;
  }
}

export interface Item {
  node: YNode;
  field: string;
  line?: number;
}

/** The known keys of one mapping, with typed getters that report against this mapping's path. */
export class Fields {
  constructor(
    private readonly reader: YamlReader,
    readonly node: YNode,
    readonly field: string,
    private readonly pairs: Map<string, Pair>,
    private readonly typos: ReadonlySet<string> = new Set(),
  ) {}

  private opts(key: string, opts?: ReadOptions): ReadOptions | undefined {
    return this.typos.has(key) ? { ...opts, required: false } : opts;
  }

  /** Line of the mapping itself (where missing keys are reported). */
  get line(): number | undefined {
    return this.reader.lineOf(this.node);
  }

  has(key: string): boolean {
    return !isAbsent(this.pairs.get(key)?.value);
  }

  value(key: string): YNode {
    return this.pairs.get(key)?.value;
  }

  path(key: string): string {
    return join(this.field, key);
  }

  /** Line of a key's value, else of the key, else of the mapping. */
  lineOf(key: string): number | undefined {
    const pair = this.pairs.get(key);
    return this.reader.lineOf(pair?.value) ?? this.reader.lineOf(pair?.key) ?? this.line;
  }

  string(key: string, expected: string, opts?: ReadOptions): string | undefined {
    return this.reader.string(this.value(key), this.path(key), expected, this.lineOf(key), this.opts(key, opts));
  }

  integer(key: string, range: Range | undefined, opts?: ReadOptions): number | undefined {
    return this.reader.integer(this.value(key), this.path(key), range, this.lineOf(key), this.opts(key, opts));
  }

  boolean(key: string, opts?: ReadOptions): boolean | undefined {
    return this.reader.boolean(this.value(key), this.path(key), this.lineOf(key), this.opts(key, opts));
  }

  list(key: string, what: string, opts?: ReadOptions): Item[] {
    return this.reader.list(this.value(key), this.path(key), what, this.lineOf(key), this.opts(key, opts));
  }
}

function join(field: string, key: string): string {
  return field ? `${field}.${key}` : key;
}

function isAbsent(node: YNode): boolean {
  return node === undefined || node === null || (isScalar(node) && node.value === null);
}

/** What a node is, for "expected X, got Y". */
export function describe(node: YNode): string {
  if (isAbsent(node)) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string') return `the text ${show(v)}`;
    if (typeof v === 'number') return `the number ${String(v)}`;
    if (typeof v === 'boolean') return String(v);
    if (v === null) return 'nothing';
    return `a value tagged ${node.tag ?? 'with an unknown tag'}`;
  }
  return 'an unexpected YAML node';
}
