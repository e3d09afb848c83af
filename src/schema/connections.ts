/**
 * Forward-only Relay connections (https://relay.dev/graphql/connections.htm): the connection and
 * edge types with their descriptions, and the `first` / `after` arguments. Mail providers page
 * forward only (IMAP, Gmail `pageToken`, Graph `@odata.nextLink`), so the schema offers no
 * `last` / `before` rather than arguments that always fail.
 */
import type { ArgBuilder } from '@pothos/core';
import { builder, type GatewaySchemaTypes } from './builder.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './pagination.ts';

/**
 * The connection type `<name>` and its edge type `<name>Edge` over `nodeRef`; `what` names the
 * nodes in the descriptions, e.g. "conversations, newest activity first".
 */
export function forwardConnection<Node extends Parameters<typeof builder.connectionObject>[0]['type']>(nodeRef: Node, name: string, what: string) {
  return builder.connectionObject(
    { type: nodeRef, name, description: `A page of ${what}. Pass \`pageInfo.endCursor\` as \`after\` for the next page.` },
    { name: `${name}Edge`, description: `One of ${what}, with the cursor that resumes after it.` },
  );
}

/** The `first` and `after` arguments of a forward connection. */
export function forwardPageArgs(arg: ArgBuilder<GatewaySchemaTypes>) {
  return {
    first: arg.int({ required: false, description: `How many items, 1..${MAX_PAGE_SIZE}; ${DEFAULT_PAGE_SIZE} when omitted.` }),
    after: arg.string({ required: false, description: 'Return the items after this cursor (an `endCursor` or edge `cursor` of an earlier page).' }),
  };
}
