/**
 * Yoga plugin: the cost limit. Before an operation executes, its cost is estimated with
 * graphql-query-complexity and {@link gatewayCostEstimator} (src/http/query-cost.ts), with the
 * request's variable values (a `first: $first` costs what `$first` says, so this runs at execution
 * rather than in the cached validation). Over `maxCost` the answer is QUERY_TOO_COMPLEX (HTTP 400,
 * `extensions.limit: "cost"`) and nothing is resolved.
 */
import { getComplexity } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';
import { DEFAULT_LIMITS } from '../config.ts';
import { gatewayCostEstimator } from './query-cost.ts';
import { queryTooComplex } from './query-limit-error.ts';

/** Options of {@link useQueryCost}. */
export interface UseQueryCostOptions {
  /** Highest cost accepted. Default `DEFAULT_LIMITS.maxCost` (500 000). */
  maxCost?: number;
}

/** Refuses operations whose estimated cost is over `maxCost`. */
export function useQueryCost(options: UseQueryCostOptions = {}): Plugin {
  const maxCost = options.maxCost ?? DEFAULT_LIMITS.maxCost;
  return {
    onExecute({ args, setResultAndStopExecution }) {
      let cost: number;
      try {
        cost = getComplexity({
          schema: args.schema,
          query: args.document,
          variables: (args.variableValues ?? {}) as Record<string, unknown>,
          operationName: args.operationName ?? undefined,
          estimators: [gatewayCostEstimator],
        });
      } catch (error) {
        // Bad variable values are the executor's to report (with its own message); fragments that
        // expand past graphql-query-complexity's node limit (10 000) are refused as too costly.
        if (!(error instanceof Error && /maximum allowed number of nodes/.test(error.message))) return;
        cost = Number.POSITIVE_INFINITY;
      }
      if (cost > maxCost) setResultAndStopExecution({ errors: [queryTooComplex('cost', maxCost, Number.isFinite(cost) ? cost : undefined)] });
    },
  };
}
