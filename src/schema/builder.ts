/**
 * The one Pothos builder of the gateway: context and scalar types declared once, plugins in the
 * order that composes (errors outermost so that it wraps the others' resolvers, then relay, then dataloader), and the
 * relay global IDs delegated to `src/ids.ts` so that every ID in the schema is our opaque
 * base64url form whose inner id is the JSON key array of `encodeNodeId`.
 */
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import { DateTimeResolver, EmailAddressResolver, NonNegativeIntResolver, URLResolver } from 'graphql-scalars';
import type { GatewayContext } from '../context.ts';
import { badInput, notFound } from '../errors.ts';
import { decodeGlobalId, encodeGlobalId, NODE_TYPES, parseKeyParts, type NodeType } from '../ids.ts';

/** Decodes a global ID for the relay plugin. @throws GatewayError BAD_USER_INPUT for a malformed ID or an unknown node type */
export function decodeRelayId(globalId: string): { typename: string; id: string } {
  const { typename, id } = decodeGlobalId(globalId);
  if (!Object.hasOwn(NODE_TYPES, typename)) throw badInput('Malformed ID');
  parseKeyParts(typename as NodeType, id);
  return { typename, id };
}

/** The builder's type parameters: context, nullability default and scalar shapes. */
interface GatewayTypes {
  Context: GatewayContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    EmailAddress: { Input: string; Output: string };
    NonNegativeInt: { Input: number; Output: number };
    URL: { Input: URL; Output: URL | string };
  };
}

/** The resolved Pothos schema types of {@link builder}, for helpers typed against it. */
export type GatewaySchemaTypes = PothosSchemaTypes.ExtendDefaultTypes<GatewayTypes>;

/** The schema builder. Import it only from `src/schema/*`. */
export const builder = new SchemaBuilder<GatewayTypes>({
  plugins: [ErrorsPlugin, RelayPlugin, DataloaderPlugin],
  defaultFieldNullability: false,
  errors: { defaultTypes: [] },
  relay: {
    cursorType: 'String',
    clientMutationId: 'omit',
    encodeGlobalID: (typename, id) => encodeGlobalId(typename, String(id)),
    decodeGlobalID: (globalId) => decodeRelayId(globalId),
    nodeTypeOptions: { description: 'An object with a global, opaque ID that `node(id:)` can fetch again.' },
    pageInfoTypeOptions: { description: 'Where a page of a connection sits in the whole list (Relay cursor connections).' },
    hasNextPageFieldOptions: { description: 'True when more items follow the last edge; pass `endCursor` as `after` to get them.' },
    hasPreviousPageFieldOptions: { description: 'True when this page did not start at the beginning of the list.' },
    startCursorFieldOptions: { description: 'Cursor of the first edge, or null for an empty page.' },
    endCursorFieldOptions: { description: 'Cursor of the last edge: pass it as `after` for the next page.' },
    edgesFieldOptions: { description: 'The items of this page, each with its cursor.' },
    pageInfoFieldOptions: { description: 'Where this page sits in the whole list.' },
    cursorFieldOptions: { description: 'Opaque cursor: pass it as `after` to get the items after this one.' },
    nodeFieldOptions: { description: 'The item.' },
    idFieldOptions: { description: 'Opaque global ID; stable while the provider keys are (an IMAP UIDVALIDITY change makes it stale).' },
    nodeQueryOptions: {
      description: 'Fetches any object by its global ID. An ID that is malformed gives BAD_USER_INPUT; one that is absent or belongs to another workspace gives NOT_FOUND.',
      args: { id: { description: 'A global ID, as any `id` field gives it.' } },
      resolve: async (_root, args, _ctx, _info, resolveNode) => {
        const node = await resolveNode(args.id);
        if (node == null) throw notFound('Node');
        return node;
      },
    },
    nodesQueryOptions: {
      description:
        'Fetches several objects by global ID, in order, in one batch; an absent or foreign one is null with a NOT_FOUND error at its index. A malformed ID fails the whole field with BAD_USER_INPUT (IDs are checked before anything is loaded).',
      args: { ids: { description: 'Global IDs, as `id` fields give them; at most 100.' } },
      resolve: async (_root, args, _ctx, _info, resolveNodes) => {
        if (args.ids.length > 100) throw badInput('nodes takes at most 100 IDs');
        const nodes = await resolveNodes(args.ids);
        // A rejected item becomes null plus an error at its own index, not a failed list.
        return nodes.map((node) => (node == null ? Promise.reject(notFound('Node')) : node));
      },
    },
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('EmailAddress', EmailAddressResolver);
builder.addScalarType('NonNegativeInt', NonNegativeIntResolver);
builder.addScalarType('URL', URLResolver);

builder.queryType({ description: 'Read access to the mailboxes of the workspace of the API key.' });
