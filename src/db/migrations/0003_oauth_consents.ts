/**
 * Pending OAuth consents of `mailbox connect` (the authorization-code flow with PKCE, RFC 7636, and
 * state, RFC 6749 §4.1 / §10.12): one row per started connect, so that the gateway instance that
 * receives the callback need not be the process that started it.
 *
 * The row holds the SHA-256 of `state` (never the state: the state is the credential of the
 * callback), the PKCE `code_verifier` encrypted like mailbox credentials, the redirect URI of the
 * authorization request (the code exchange must repeat it), the expected address and display name,
 * and, once the callback has run, its outcome: `consumed_at` (the single use), then `finished_at`
 * with `mailbox_id` or `error` (words, never a token). Same column types as 0001 on each dialect.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.ts';

/** Creates `oauth_consents` with its unique state digest and an index on expiry (for sweeping). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the evolving Database type
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  const ts = dialect === 'postgres' ? 'timestamptz' : 'text';
  await db.schema
    .createTable('oauth_consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('state_hash', 'text', (c) => c.notNull().unique())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('expected_address', 'text')
    .addColumn('display_name', 'text')
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('expires_at', ts, (c) => c.notNull())
    .addColumn('consumed_at', ts)
    .addColumn('finished_at', ts)
    .addColumn('mailbox_id', 'text')
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('oauth_consents_expires_at_idx').on('oauth_consents').column('expires_at').execute();
}

/** Drops the table. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('oauth_consents').execute();
}
