/**
 * Opaque global IDs (Relay Global Object Identification).
 *
 * A global ID is `base64url("<Type>:<json array of strings>")`, e.g. for an attachment
 * `["<mailbox id>", "<provider message key>", "<part id>"]`. It is URL-safe (RFC 4648 §5, no
 * padding), stable across requests as long as the provider keys are, and reveals nothing the
 * caller could not already see. Clients must treat it as opaque; the gateway decodes it only here.
 */
import { badInput } from './errors.ts';

/** The node types and the number of key parts each one's ID carries. */
export const NODE_TYPES = {
  Mailbox: 1, // [mailboxId]
  Conversation: 2, // [mailboxId, conversationKey]
  Message: 2, // [mailboxId, messageKey]
  Attachment: 3, // [mailboxId, messageKey, partId]
} as const;

export type NodeType = keyof typeof NODE_TYPES;

/** Encodes a node's type and key parts into a global ID. */
export function encodeNodeId(type: NodeType, parts: readonly string[]): string {
  return encodeGlobalId(type, JSON.stringify(parts));
}

/** Relay's encoding of `typename` + inner `id` (used by the Pothos relay plugin too). */
export function encodeGlobalId(typename: string, id: string): string {
  return Buffer.from(`${typename}:${id}`, 'utf8').toString('base64url');
}

/**
 * Decodes a global ID into its type name and inner id.
 * @throws GatewayError BAD_USER_INPUT when it is not a global ID this gateway could have issued
 */
export function decodeGlobalId(globalId: string): { typename: string; id: string } {
  if (typeof globalId !== 'string' || globalId.length === 0 || globalId.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(globalId)) {
    throw badInput('Malformed ID');
  }
  const text = Buffer.from(globalId, 'base64url').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) throw badInput('Malformed ID');
  return { typename: text.slice(0, colon), id: text.slice(colon + 1) };
}

/**
 * Decodes the key parts of a global ID of the expected type.
 * @throws GatewayError BAD_USER_INPUT when malformed or of another type
 */
export function decodeNodeId(type: NodeType, globalId: string): string[] {
  const { typename, id } = decodeGlobalId(globalId);
  if (typename !== type) throw badInput(`ID is not a ${type} ID`);
  return parseKeyParts(type, id);
}

/**
 * Parses the inner id of a node of `type` into its key parts.
 * @throws GatewayError BAD_USER_INPUT when the parts are missing or of the wrong shape
 */
export function parseKeyParts(type: NodeType, id: string): string[] {
  let parts: unknown;
  try {
    parts = JSON.parse(id);
  } catch {
    throw badInput('Malformed ID');
  }
  if (!Array.isArray(parts) || parts.length !== NODE_TYPES[type] || !parts.every((p) => typeof p === 'string' && p.length > 0)) {
    throw badInput('Malformed ID');
  }
  return parts as string[];
}
