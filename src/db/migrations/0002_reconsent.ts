/**
 * Mailboxes that need re-consent: a provider whose grant was revoked (an OAuth refresh answered
 * `invalid_grant`) marks its mailbox, and the mark stays until new credentials are stored.
 * `needs_reconsent_at` is null while the grant works; `reconsent_reason` says why in words for
 * operators (never a token). Same column types as 0001 on each dialect.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.ts';

/** Adds `mailboxes.needs_reconsent_at` and `mailboxes.reconsent_reason`, both nullable. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the evolving Database type
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  const ts = dialect === 'postgres' ? 'timestamptz' : 'text';
  await db.schema.alterTable('mailboxes').addColumn('needs_reconsent_at', ts).execute();
  await db.schema.alterTable('mailboxes').addColumn('reconsent_reason', 'text').execute();
}

/** Drops the two columns (SQLite 3.35+ and PostgreSQL both support DROP COLUMN). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('mailboxes').dropColumn('reconsent_reason').execute();
  await db.schema.alterTable('mailboxes').dropColumn('needs_reconsent_at').execute();
}
