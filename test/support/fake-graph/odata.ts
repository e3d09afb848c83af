/**
 * The OData query options the fake understands on mail: `$select`, `$expand`, `$filter`,
 * `$orderby`, `$top`, `$skip`, `$skiptoken`, `$count`, `$search`.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/query-parameters and
 * https://learn.microsoft.com/en-us/graph/api/user-list-messages (InefficientFilter: properties in
 * `$orderby` must come first in `$filter`, in the same order; `$top` 1..1000; `$search` cannot be
 * combined with `$orderby`). `$filter` is a conjunction (`and`) of comparisons, optionally in
 * parentheses; `or`, `not` and lambda operators are refused with a 400 naming the fake (real Graph
 * has them): a test never gets a silently wrong answer. Errors for unknown properties and
 * mismatched operand types use the wording of Graph's OData layer.
 */
import { GraphErrors, type GraphError } from './errors.ts';

/** Edm types of the filterable and sortable message properties. */
export type EdmType = 'Edm.String' | 'Edm.Boolean' | 'Edm.DateTimeOffset';

/** The message properties `$filter` and `$orderby` accept, with their types (paths as Graph writes them). */
export const MESSAGE_FILTERABLE: Record<string, EdmType> = {
  conversationId: 'Edm.String',
  hasAttachments: 'Edm.Boolean',
  receivedDateTime: 'Edm.DateTimeOffset',
  sentDateTime: 'Edm.DateTimeOffset',
  createdDateTime: 'Edm.DateTimeOffset',
  lastModifiedDateTime: 'Edm.DateTimeOffset',
  isRead: 'Edm.Boolean',
  isDraft: 'Edm.Boolean',
  subject: 'Edm.String',
  parentFolderId: 'Edm.String',
  internetMessageId: 'Edm.String',
  importance: 'Edm.String',
  'from/emailAddress/address': 'Edm.String',
  'sender/emailAddress/address': 'Edm.String',
};

/** A comparison operator of `$filter`. */
export type Operator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

/** One comparison of a `$filter` conjunction; `value` is a string, boolean, epoch ms (DateTimeOffset) or null. */
export interface Comparison {
  property: string;
  op: Operator;
  value: string | boolean | number | null;
}

/** One `$orderby` key. */
export interface OrderKey {
  property: string;
  descending: boolean;
}

const OPERATORS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const OPERATOR_KIND: Record<Operator, string> = { eq: 'Equal', ne: 'NotEqual', gt: 'GreaterThan', ge: 'GreaterThanOrEqual', lt: 'LessThan', le: 'LessThanOrEqual' };
const DATETIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,7})?)?(Z|[+-]\d\d:\d\d)$/;
const MAX_FILTER_LENGTH = 4096;

const noProperty = (name: string, type: string): GraphError => GraphErrors.badRequest(`Could not find a property named '${name}' on type '${type}'.`);

/** Splits a `$filter` into tokens: quoted strings (with `''` escapes), parentheses, and words. Linear in the input. */
function tokenize(text: string): string[] | GraphError {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push(c);
      i++;
    } else if (c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        const q = text.indexOf("'", j);
        if (q < 0) return GraphErrors.badRequest(`There is an unterminated string literal at position ${i} in '${text}'.`);
        value += text.slice(j, q);
        if (text[q + 1] === "'") {
          value += "'";
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      tokens.push(`'${value}`);
    } else {
      let j = i;
      while (j < text.length && !' \t()\''.includes(text[j]!)) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

function literalType(token: string): { type: EdmType | 'null'; value: Comparison['value'] } | null {
  if (token.startsWith("'")) return { type: 'Edm.String', value: token.slice(1) };
  if (token === 'true' || token === 'false') return { type: 'Edm.Boolean', value: token === 'true' };
  if (token === 'null') return { type: 'null', value: null };
  if (DATETIME.test(token)) {
    const t = Date.parse(token);
    return Number.isNaN(t) ? null : { type: 'Edm.DateTimeOffset', value: t };
  }
  return null;
}

/**
 * Parses a `$filter` over message properties.
 * @returns the comparisons in the order written, or the 400 to answer
 */
export function parseFilter(text: string): Comparison[] | GraphError {
  if (text.length > MAX_FILTER_LENGTH) return GraphErrors.badRequest('The $filter expression is too long.');
  const tokens = tokenize(text);
  if ('status' in tokens) return tokens;
  const flat = tokens.filter((t) => t !== '(' && t !== ')');
  let depth = 0;
  for (const t of tokens) {
    depth += t === '(' ? 1 : t === ')' ? -1 : 0;
    if (depth < 0) return GraphErrors.badRequest(`Syntax error: unbalanced parentheses in '${text}'.`);
  }
  if (depth !== 0) return GraphErrors.badRequest(`Syntax error: unbalanced parentheses in '${text}'.`);
  const out: Comparison[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    const [property, op, literal, joiner] = [flat[i], flat[i + 1], flat[i + 2], flat[i + 3]];
    if (property === undefined || op === undefined || literal === undefined) return GraphErrors.badRequest(`Syntax error at position ${text.length} in '${text}'.`);
    if (/^(or|not)$/i.test(property) || /^(or|not)$/i.test(op) || /\/(any|all)$/.test(property)) return GraphErrors.badRequest(`The fake Graph server supports only 'and' of comparisons in $filter: '${text}'.`);
    const type = MESSAGE_FILTERABLE[property];
    if (!type) return noProperty(property.split('/')[0]!, 'microsoft.graph.message');
    if (!OPERATORS.has(op)) return GraphErrors.badRequest(`Syntax error: character '${op}' is not valid at this point in '${text}'.`);
    const lit = literalType(literal);
    if (!lit) return GraphErrors.badRequest(`Syntax error: '${literal}' is not a valid literal in '${text}'.`);
    if (lit.type !== 'null' && lit.type !== type) {
      return GraphErrors.badRequest(`A binary operator with incompatible types was detected. Found operand types '${type}' and '${lit.type}' for operator kind '${OPERATOR_KIND[op as Operator]}'.`);
    }
    out.push({ property, op: op as Operator, value: lit.value });
    if (joiner !== undefined && joiner.toLowerCase() !== 'and') {
      if (joiner.toLowerCase() === 'or') return GraphErrors.badRequest(`The fake Graph server supports only 'and' of comparisons in $filter: '${text}'.`);
      return GraphErrors.badRequest(`Syntax error at '${joiner}' in '${text}'.`);
    }
    if (joiner !== undefined && flat[i + 4] === undefined) return GraphErrors.badRequest(`Syntax error: expression expected after 'and' in '${text}'.`);
  }
  return out;
}

/** Parses `$orderby` (`prop [asc|desc], ...`) over message properties. */
export function parseOrderBy(text: string): OrderKey[] | GraphError {
  const out: OrderKey[] = [];
  for (const item of text.split(',')) {
    const [property, direction, extra] = item.trim().split(/\s+/);
    if (!property) return GraphErrors.badRequest(`Syntax error in $orderby '${text}'.`);
    if (!MESSAGE_FILTERABLE[property]) return noProperty(property.split('/')[0]!, 'microsoft.graph.message');
    if (extra !== undefined || (direction !== undefined && !/^(asc|desc)$/i.test(direction))) return GraphErrors.badRequest(`Syntax error in $orderby '${text}'.`);
    out.push({ property, descending: direction?.toLowerCase() === 'desc' });
  }
  return out;
}

/**
 * Graph's InefficientFilter rule: with both `$orderby` and `$filter`, the `$orderby` properties
 * must be the first properties of `$filter`, in the same order.
 */
export function checkFilterOrder(filter: Comparison[], order: OrderKey[]): GraphError | null {
  if (filter.length === 0 || order.length === 0) return null;
  for (const [i, key] of order.entries()) {
    if (filter[i]?.property !== key.property) return GraphErrors.inefficientFilter();
  }
  return null;
}

/** Whether a value satisfies a comparison. */
export function compare(actual: string | boolean | number | null, c: Comparison): boolean {
  const expected = c.value;
  if (expected === null || actual === null) return c.op === 'eq' ? actual === expected : c.op === 'ne' ? actual !== expected : false;
  switch (c.op) {
    case 'eq':
      return typeof actual === 'string' && typeof expected === 'string' ? actual.toLowerCase() === expected.toLowerCase() : actual === expected;
    case 'ne':
      return typeof actual === 'string' && typeof expected === 'string' ? actual.toLowerCase() !== expected.toLowerCase() : actual !== expected;
    case 'gt':
      return actual > expected;
    case 'ge':
      return actual >= expected;
    case 'lt':
      return actual < expected;
    case 'le':
      return actual <= expected;
  }
}

/** Parses `$top`: an integer 1..`max`. */
export function parseTop(raw: string | null, fallback: number, max = 1000): number | GraphError {
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) return GraphErrors.badRequest(`Invalid value '${raw}' for $top query option found. The $top query option requires a non-negative integer value.`);
  const n = Number(raw);
  if (n > max) return GraphErrors.badRequest(`The limit of '${max}' for the top query has been exceeded. The value from the incoming request is '${raw}'.`);
  return Math.max(n, 1);
}

/** Parses a `$select` list, checking each name against `known` (the type's properties). */
export function parseSelect(raw: string | null, known: ReadonlySet<string>, typeName: string): string[] | null | GraphError {
  if (raw === null) return null;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) if (!known.has(name)) return noProperty(name, typeName);
  return names;
}

/** One `$expand` item: a navigation property and the `$select` inside its parentheses. */
export interface ExpandItem {
  property: string;
  select: string | null;
}

/** Parses `$expand` (`attachments`, `attachments($select=id,name)`). */
export function parseExpand(raw: string | null): ExpandItem[] | GraphError {
  if (raw === null) return [];
  const items: ExpandItem[] = [];
  let i = 0;
  while (i < raw.length) {
    const open = raw.indexOf('(', i);
    const comma = raw.indexOf(',', i);
    if (open >= 0 && (comma < 0 || open < comma)) {
      const close = raw.indexOf(')', open);
      if (close < 0) return GraphErrors.badRequest(`Syntax error in $expand '${raw}'.`);
      const options = raw.slice(open + 1, close).split(';').map((o) => o.trim());
      let select: string | null = null;
      for (const option of options) {
        const m = /^\$select=(.*)$/i.exec(option);
        if (!m) return GraphErrors.badRequest(`The fake Graph server supports only $select inside $expand: '${raw}'.`);
        select = m[1]!;
      }
      items.push({ property: raw.slice(i, open).trim(), select });
      i = close + 1;
      if (raw[i] === ',') i++;
    } else {
      const end = comma < 0 ? raw.length : comma;
      items.push({ property: raw.slice(i, end).trim(), select: null });
      i = end + 1;
    }
  }
  return items;
}

/** The opaque `$skiptoken` of the fake: the offset of the next page. */
export function encodeSkipToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

/** Reads a `$skiptoken`; null when it is not one of the fake's. */
export function decodeSkipToken(token: string): number | null {
  try {
    const o = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown }).o;
    return typeof o === 'number' && Number.isInteger(o) && o >= 0 ? o : null;
  } catch {
    return null;
  }
}
