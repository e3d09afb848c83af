/**
 * RFC 5322 mailboxes. `address` is a String, not the EmailAddress scalar: real mail carries
 * addr-specs that are not valid by RFC 5322 (`undisclosed-recipients:;`, bare local parts, raw
 * 8-bit, trailing dots), and a strict scalar would turn a whole message into an error at
 * serialization time. We show what the message says.
 */
import type { Address } from '../domain/mail.ts';
import { builder } from './builder.ts';

export const AddressRef = builder.objectRef<Address>('Address').implement({
  description: 'A mailbox of a From/To/Cc header (RFC 5322 §3.4): display name and address, as written.',
  fields: (t) => ({
    name: t.exposeString('name', { nullable: true, description: 'Display name, RFC 2047 encoded-words decoded; null when absent.' }),
    address: t.exposeString('address', {
      nullable: true,
      description: 'The addr-spec as written (not validated: real mail holds invalid ones); null for a group or when absent.',
    }),
  }),
});
