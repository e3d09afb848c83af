/**
 * Yoga plugin: the per-document limits enforced while parsing and validating, with
 * graphql-armor's plugins, each refusal answered QUERY_TOO_COMPLEX (HTTP 400, see
 * `./query-limit-error.ts`):
 *
 * - tokens: counted by the lexer while parsing; parsing stops at the limit, so a huge document
 *   costs no more than the limit's worth of lexing (graphql-js validation is quadratic in repeated
 *   fields, so this bound must come before validation);
 * - depth: field nesting, fragments flattened (a fragment spread adds no level of its own), the
 *   introspection field `__schema` ignored; a relay list costs three levels (`conn { edges { node } }`);
 * - aliases (aliases of `__typename` not counted) and directives per operation.
 *
 * Field suggestions ("Did you mean ...?") are removed from validation and variable errors unless
 * `fieldSuggestions` is true: they reveal the schema to whoever probes it.
 */
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { GraphQLError, ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { DEFAULT_LIMITS } from '../config.ts';
import { isQueryTooComplex, queryTooComplex, type QueryLimit } from './query-limit-error.ts';

/** Options of {@link useQueryLimits}; the defaults are `DEFAULT_LIMITS` (src/config.ts). */
export interface UseQueryLimitsOptions {
  maxDepth?: number;
  maxAliases?: number;
  maxDirectives?: number;
  maxTokens?: number;
  /** Keep "Did you mean ...?" in error messages. Default false. */
  fieldSuggestions?: boolean;
}

/** The figure armor found, read from its message ("..., found 25."). */
function foundIn(error: GraphQLError): number | undefined {
  const match = /found (\d+)/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

/** An armor `onReject` that reports our error in place of armor's (armor's has no code). */
function reportAs(limit: QueryLimit, max: number) {
  return (context: ValidationContext | null, error: GraphQLError) => {
    const refusal = queryTooComplex(limit, max, foundIn(error));
    if (context) context.reportError(refusal);
    else throw refusal;
  };
}

/** Any "Did you mean ...?" of graphql-js, also those armor's pattern misses (enum values, input fields, types). */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

/** The parse and validation limits, and suggestion hiding. */
export function useQueryLimits(options: UseQueryLimitsOptions = {}): Plugin {
  const maxDepth = options.maxDepth ?? DEFAULT_LIMITS.maxDepth;
  const maxAliases = options.maxAliases ?? DEFAULT_LIMITS.maxAliases;
  const maxDirectives = options.maxDirectives ?? DEFAULT_LIMITS.maxDirectives;
  const maxTokens = options.maxTokens ?? DEFAULT_LIMITS.maxTokens;
  const common = { exposeLimits: true, propagateOnRejection: false } as const;
  const plugins: Plugin[] = [
    maxTokensPlugin({ ...common, n: maxTokens, onReject: [reportAs('tokens', maxTokens)] }) as Plugin,
    maxDepthPlugin({ ...common, n: maxDepth, flattenFragments: true, ignoreIntrospection: true, onReject: [reportAs('depth', maxDepth)] }) as Plugin,
    maxAliasesPlugin({ ...common, n: maxAliases, onReject: [reportAs('aliases', maxAliases)] }) as Plugin,
    maxDirectivesPlugin({ ...common, n: maxDirectives, onReject: [reportAs('directives', maxDirectives)] }) as Plugin,
  ];
  if (!options.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin({ mask: '' }) as Plugin);

  return {
    onPluginInit({ addPlugin }) {
      for (const plugin of plugins) addPlugin(plugin);
    },
    onExecutionResult({ result }) {
      if (!result || !('errors' in result) || !result.errors) return;
      for (const error of result.errors) {
        // Validation, variable coercion and execution word their suggestions in several ways
        // (fields, enum values, input fields, types): all are cut here, where every error passes.
        if (!options.fieldSuggestions) Object.assign(error, { message: error.message.replace(SUGGESTION, '').trim() });
        // yoga marks parse errors as GraphQL-over-HTTP "spec" errors (200 under application/json);
        // a refusal by a limit stays a 400 whatever the media type.
        if (!isQueryTooComplex(error)) continue;
        const extensions = error.extensions as { http?: { spec?: boolean } };
        if (extensions.http) extensions.http.spec = false;
      }
    },
  };
}
