/** The gateway's GraphQL schema, assembled from one module per type. */
import { builder } from './builder.ts';
import './address.ts';
import './enums.ts';
import './errors.ts';
import './mailbox.ts';
import './conversation.ts';
import './message.ts';
import './attachment.ts';

/** The executable schema. */
export const schema = builder.toSchema();
