/**
 * loadConfig's checks that need no process: which DATABASE_URL forms pass, how a database is
 * named in messages (never with its password), and that checking DATA_DIR creates nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeDatabase, loadConfig } from '../src/config.ts';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-config-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

/** The message loadConfig throws for `env`, or null when it accepts it. */
function problem(env: NodeJS.ProcessEnv): string | null {
  try {
    loadConfig({ DATA_DIR: base, ...env });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('DATABASE_URL', () => {
  it('accepts complete postgres and sqlite URLs', () => {
    expect(loadConfig({ DATA_DIR: base, DATABASE_URL: 'postgresql://alice:pw@db.example.org:5433/gw' }).database).toEqual({
      dialect: 'postgres',
      url: 'postgresql://alice:pw@db.example.org:5433/gw',
    });
    // A socket directory instead of a host; the user comes from USER, as pg does it.
    expect(loadConfig({ DATA_DIR: base, USER: 'alice', DATABASE_URL: 'postgres:///gw?host=/var/run/postgresql' }).database.dialect).toBe('postgres');
    expect(loadConfig({ DATA_DIR: base, DATABASE_URL: `sqlite:${path.join(base, 'x', 'gw.sqlite')}` }).database).toEqual({ dialect: 'sqlite', file: path.join(base, 'x', 'gw.sqlite') });
    expect(loadConfig({ DATA_DIR: base, DATABASE_URL: 'file::memory:' }).database).toEqual({ dialect: 'sqlite', file: ':memory:' });
  });

  it('refuses a postgres URL pg would complete with guesses, naming what is missing', () => {
    expect(problem({ DATABASE_URL: 'postgres://db.example.org/gw' })).toBe(
      'Invalid configuration: DATABASE_URL lacks a user name (and neither PGUSER nor USER is set); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE',
    );
    expect(problem({ DATABASE_URL: 'postgres://db.example.org/gw', PGUSER: 'alice' })).toBeNull();
    expect(problem({ DATABASE_URL: 'postgres:alice@db/gw' })).toMatch(/^Invalid configuration: DATABASE_URL lacks the \/\/ after the scheme, a host/);
    expect(problem({ DATABASE_URL: 'postgres://alice:secret-pw@db.example.org/gw%zz' })).toBe(
      'Invalid configuration: DATABASE_URL is not a valid URL; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE',
    );
  });

  it('refuses a SQLite file whose folder cannot be made', () => {
    expect(problem({ DATABASE_URL: 'sqlite:/dev/null/gw.sqlite' })).toBe(
      'Invalid configuration: DATABASE_URL names the SQLite file /dev/null/gw.sqlite, whose folder is not usable (it cannot be created or written): /dev/null is not a directory',
    );
  });
});

describe('describeDatabase', () => {
  it('names host, port and database, never the user, password or query', () => {
    expect(describeDatabase({ dialect: 'postgres', url: 'postgres://alice:s3cret@db.example.org/gw?password=other&sslmode=require' })).toBe(
      'postgres://db.example.org:5432/gw (credentials hidden)',
    );
    expect(describeDatabase({ dialect: 'postgres', url: 'postgres://db.example.org:5433/gw?password=other' })).toBe('postgres://db.example.org:5433/gw (credentials hidden)');
    expect(describeDatabase({ dialect: 'postgres', url: 'postgresql://[::1]:6000/gw' })).toBe('postgresql://[::1]:6000/gw');
    expect(describeDatabase({ dialect: 'sqlite', file: '/srv/gw.sqlite' })).toBe('SQLite file /srv/gw.sqlite');
  });
});

describe('DATA_DIR', () => {
  it('accepts a folder that does not exist yet without creating it', () => {
    const dataDir = path.join(base, 'later', 'data');
    expect(loadConfig({ DATA_DIR: dataDir }).dataDir).toBe(dataDir);
    expect(fs.existsSync(path.join(base, 'later'))).toBe(false);
  });

  it('lists every problem on its own line when there are several', () => {
    expect(problem({ DATA_DIR: '/dev/null/x', LOG_LEVEL: 'loud' })).toBe(
      'Invalid configuration:\n' +
        '- DATA_DIR /dev/null/x is not a usable directory (it cannot be created or written): /dev/null is not a directory\n' +
        '- LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    );
  });
});
