/**
 * The one rule for a mailbox owner's address: what the `EmailAddress` scalar of graphql-scalars
 * accepts (the WHATWG "valid e-mail address"), so an address the CLI stores always serializes.
 */
import { EmailAddressResolver } from 'graphql-scalars';

/** Whether `value` is an address the `EmailAddress` scalar accepts, e.g. "alice@example.org". */
export function isEmailAddress(value: string): boolean {
  try {
    EmailAddressResolver.serialize(value);
    return true;
  } catch {
    return false;
  }
}
