/**
 * The cost model of GraphQL operations, an estimator for graphql-query-complexity.
 *
 * Cost counts the objects an operation may make the gateway resolve: each object (a field of
 * object, interface or union type) costs 1 plus the cost of its selections, and scalar and enum
 * fields cost nothing of their own. Lists multiply:
 *
 * - a connection (a field with `first`) costs `first` (20 when omitted, at most 100) times one
 *   page item, so cost follows the page; its `edges` list is not multiplied again;
 * - `nodes(ids:)` costs one item per id;
 * - other lists, whose length the caller cannot choose, count {@link ASSUMED_LIST_SIZE} items
 *   (attachments of a message or conversation, addresses, mailboxes of a workspace).
 *
 * Introspection (`__schema`, `__type`) costs nothing: it is bounded by the schema.
 */
import { getNamedType, getNullableType, isLeafType, isListType } from 'graphql';
import type { ComplexityEstimator } from 'graphql-query-complexity';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/pagination.ts';

/** Items assumed for a list field without a size argument (attachments, addresses, mailboxes). */
export const ASSUMED_LIST_SIZE = 10;

/** The gateway's cost estimator (see the module comment). */
export const gatewayCostEstimator: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  if (type.name.startsWith('__') || field.name.startsWith('__')) return 0;
  if (isLeafType(getNamedType(field.type))) return 0;
  const item = 1 + childComplexity;
  if (field.args.some((arg) => arg.name === 'first')) {
    const first = typeof args.first === 'number' ? args.first : DEFAULT_PAGE_SIZE;
    return item * Math.min(Math.max(first, 1), MAX_PAGE_SIZE);
  }
  if (!isListType(getNullableType(field.type))) return item;
  if (type.name.endsWith('Connection')) return item;
  if (Array.isArray(args.ids)) return item * Math.max(args.ids.length, 1);
  return item * ASSUMED_LIST_SIZE;
};
