/**
 * The static list of migrations, in order. A static list (not kysely's FileMigrationProvider)
 * works the same under tsx, vitest and any bundler. Add a module `NNNN_name.ts` and list it here;
 * never edit or reorder one that has shipped.
 */
import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../connect.ts';
import * as m0001 from './0001_initial.ts';
import * as m0002 from './0002_reconsent.ts';
import * as m0003 from './0003_oauth_consents.ts';
import * as m0004 from './0004_mail_index.ts';

const MODULES = [
  ['0001_initial', m0001],
  ['0002_reconsent', m0002],
  ['0003_oauth_consents', m0003],
  ['0004_mail_index', m0004],
] as const;

/** A kysely MigrationProvider for `dialect`: each migration gets the dialect to pick column types. */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, mod] of MODULES) {
        out[name] = { up: (db) => mod.up(db, dialect), down: (db) => mod.down(db) };
      }
      return out;
    },
  };
}
