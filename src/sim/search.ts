import type { UserFacts } from './org.ts';

/**
 * Okta's `search` and `filter` expression languages for GET /api/v1/users
 * (docs/okta-api.md §5.1): comparisons joined by and/or with parentheses, quoted strings
 * with \" and \\ escapes. Operators and keywords are case-insensitive, attribute
 * names are not; `search` compares values case-insensitively, `filter` does not.
 */

export class SearchError extends Error {}

type Op = 'eq' | 'sw' | 'co' | 'gt' | 'ge' | 'lt' | 'le' | 'pr';
type Node =
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'cmp'; attr: string; op: Op; value: string | null };
type Token = { t: 'word' | 'str' | '(' | ')'; v: string };

export type Mode = 'search' | 'filter';
export interface CompiledQuery {
  test(u: UserFacts): boolean;
  /** Set when the whole query is `id eq` / `profile.login eq`: the handler can look it up directly. */
  exact?: { attr: 'id' | 'profile.login'; value: string };
}

const OPS = new Set<Op>(['eq', 'sw', 'co', 'gt', 'ge', 'lt', 'le', 'pr']);
const DATE_ATTRS = new Set(['created', 'lastUpdated', 'activated', 'statusChanged']);
const SEARCH_TOP = new Set(['id', 'status', 'created', 'lastUpdated', 'activated', 'statusChanged', 'type.id']);
const CO_ATTRS = new Set(['profile.firstName', 'profile.lastName', 'profile.email', 'profile.login']);
const FILTER_ATTRS = new Set(['status', 'id', 'lastUpdated', 'profile.login', 'profile.email', 'profile.firstName', 'profile.lastName']);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')') {
      out.push({ t: c, v: c });
      i++;
    } else if (c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new SearchError('unterminated string');
        const d = src[i++] as string;
        if (d === '"') break;
        if (d === '\\') {
          if (i >= src.length) throw new SearchError('dangling escape');
          v += src[i++];
        } else v += d;
      }
      out.push({ t: 'str', v });
    } else {
      const m = /^[^\s()"]+/.exec(src.slice(i));
      if (!m) throw new SearchError(`unexpected character ${c}`);
      out.push({ t: 'word', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

function parse(tokens: Token[], mode: Mode): Node {
  let pos = 0;
  const peekWord = () => {
    const t = tokens[pos];
    return t?.t === 'word' ? t.v.toLowerCase() : undefined;
  };
  const orExpr = (): Node => {
    let left = andExpr();
    while (peekWord() === 'or') {
      pos++;
      left = { kind: 'or', left, right: andExpr() };
    }
    return left;
  };
  const andExpr = (): Node => {
    let left = primary();
    while (peekWord() === 'and') {
      pos++;
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const primary = (): Node => {
    const t = tokens[pos++];
    if (!t) throw new SearchError('unexpected end of expression');
    if (t.t === '(') {
      const inner = orExpr();
      if (tokens[pos++]?.t !== ')') throw new SearchError('missing )');
      return inner;
    }
    if (t.t !== 'word') throw new SearchError(`expected an attribute, got ${t.v}`);
    const op = tokens[pos++]?.v.toLowerCase() as Op | undefined;
    if (!op || !OPS.has(op)) throw new SearchError(`unknown operator after ${t.v}`);
    let value: string | null = null;
    if (op !== 'pr') {
      const v = tokens[pos++];
      if (!v || v.t === '(' || v.t === ')') throw new SearchError(`missing value for ${t.v}`);
      if (v.t === 'word' && !/^(-?\d+(\.\d+)?|true|false|null)$/i.test(v.v)) throw new SearchError(`values must be quoted: ${v.v}`);
      value = v.t === 'word' && v.v.toLowerCase() === 'null' ? null : v.v;
    }
    checkAllowed(t.v, op, mode);
    if (value !== null && DATE_ATTRS.has(t.v) && Number.isNaN(Date.parse(value))) throw new SearchError(`not a date: ${value}`);
    return { kind: 'cmp', attr: t.v, op, value };
  };
  const root = orExpr();
  if (pos !== tokens.length) throw new SearchError(`unexpected ${tokens[pos]?.v}`);
  return root;
}

function checkAllowed(attr: string, op: Op, mode: Mode): void {
  if (mode === 'filter') {
    if (!FILTER_ATTRS.has(attr)) throw new SearchError(`cannot filter on ${attr}`);
    const ranged = attr === 'lastUpdated' && ['gt', 'ge', 'lt', 'le'].includes(op);
    if (op !== 'eq' && !ranged) throw new SearchError(`operator ${op} not allowed on ${attr} in filter`);
    return;
  }
  if (!SEARCH_TOP.has(attr) && !/^profile\.[A-Za-z_][A-Za-z0-9_]*$/.test(attr)) throw new SearchError(`cannot search on ${attr}`);
  if (op === 'co' && !CO_ATTRS.has(attr)) throw new SearchError(`co is only supported on ${[...CO_ATTRS].join(', ')}`);
}

/** Dates come back as epoch ms, everything else as the string the API shows. */
function attrValue(u: UserFacts, attr: string): string | number | null {
  switch (attr) {
    case 'id': return u.id;
    case 'status': return u.status;
    case 'created': case 'activated': return attr === 'activated' && u.status === 'STAGED' ? null : u.created;
    case 'lastUpdated': case 'statusChanged': return u.lastUpdated;
    case 'profile.login': case 'profile.email': return u.login;
    case 'profile.firstName': return u.firstName;
    case 'profile.lastName': return u.lastName;
    case 'profile.department': return u.department;
    default: return null;
  }
}

function compare(node: Extract<Node, { kind: 'cmp' }>, u: UserFacts, mode: Mode): boolean {
  const raw = attrValue(u, node.attr);
  if (node.op === 'pr') return raw !== null;
  if (raw === null || node.value === null) return raw === node.value && node.op === 'eq';
  let a: string | number = raw;
  let b: string | number = node.value;
  if (typeof raw === 'number') b = Date.parse(node.value);
  else if (mode === 'search') {
    a = raw.toLowerCase();
    b = node.value.toLowerCase();
  }
  switch (node.op) {
    case 'eq': return a === b;
    case 'sw': return String(a).startsWith(String(b));
    case 'co': return String(a).includes(String(b));
    case 'gt': return a > b;
    case 'ge': return a >= b;
    case 'lt': return a < b;
    default: return a <= b;
  }
}

function evaluate(node: Node, u: UserFacts, mode: Mode): boolean {
  if (node.kind === 'cmp') return compare(node, u, mode);
  if (node.kind === 'and') return evaluate(node.left, u, mode) && evaluate(node.right, u, mode);
  return evaluate(node.left, u, mode) || evaluate(node.right, u, mode);
}

/** Throws SearchError when the expression is not valid for the mode. */
export function compileQuery(expression: string, mode: Mode): CompiledQuery {
  const tokens = tokenize(expression);
  if (tokens.length === 0) throw new SearchError('empty expression');
  const root = parse(tokens, mode);
  const query: CompiledQuery = { test: (u) => evaluate(root, u, mode) };
  if (root.kind === 'cmp' && root.op === 'eq' && root.value !== null && (root.attr === 'id' || root.attr === 'profile.login')) {
    query.exact = { attr: root.attr, value: root.value };
  }
  return query;
}
