/**
 * The mailbox model of the fake Microsoft Graph: a user of the fake tenant and the mail it holds.
 */
import crypto from 'node:crypto';
import type { DirectoryUser } from './identity.ts';

/** One mailbox of the fake tenant. */
export class FakeGraphMailbox {
  readonly user: DirectoryUser;

  constructor(address: string, displayName?: string) {
    const local = address.split('@')[0] ?? address;
    this.user = {
      id: crypto.randomUUID(),
      userPrincipalName: address,
      displayName: displayName ?? local.replace(/[._-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase()),
    };
  }

  /** The mailbox's SMTP address (its user principal name). */
  get address(): string {
    return this.user.userPrincipalName;
  }
}
