/**
 * Configuration from the environment, validated at start. Every bad value gets its own line in
 * the one error thrown, so an operator fixes them all in one go.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | PORT | 4000 | TCP port of the HTTP server (loopback unless HOST says otherwise) |
 * | HOST | 127.0.0.1 | interface to listen on |
 * | DATA_DIR | ./data | SQLite file, generated secret, local-store indexes, demo mailbox |
 * | DATABASE_URL | sqlite file `DATA_DIR/gateway.sqlite` | `postgres://...` for PostgreSQL, `sqlite:PATH` or `file:PATH` for SQLite |
 * | PUBLIC_URL | http://HOST:PORT | base of signed download URLs as clients reach the gateway |
 * | SIGNING_SECRET | generated in DATA_DIR/secret | secret for download tokens and credential encryption; at least 32 chars; required when NODE_ENV=production |
 * | LOG_LEVEL | info | pino level |
 */
import { badInput } from './errors.ts';
import path from 'node:path';

/** The validated configuration. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  database: { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string };
  publicUrl: string;
  /** Null when not given: the server generates one and keeps it in DATA_DIR (not in production). */
  signingSecret: string | null;
  production: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Reads and validates the configuration.
 * @param env the environment (default `process.env`)
 * @param overrides values from CLI flags, which win over the environment
 * @throws GatewayError BAD_USER_INPUT listing every invalid variable, one per line
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: { port?: number } = {}): Config {
  const problems: string[] = [];
  const production = env.NODE_ENV === 'production';

  let port = 4000;
  if (overrides.port !== undefined) port = overrides.port;
  else if (env.PORT !== undefined && env.PORT !== '') {
    if (!/^\d+$/.test(env.PORT) || Number(env.PORT) < 0 || Number(env.PORT) > 65535) {
      problems.push(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(env.PORT)}`);
    } else port = Number(env.PORT);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`port must be an integer from 0 to 65535, got ${port}`);

  const host = env.HOST || '127.0.0.1';
  const dataDir = path.resolve(env.DATA_DIR || './data');

  let database: Config['database'] = { dialect: 'sqlite', file: path.join(dataDir, 'gateway.sqlite') };
  const dbUrl = env.DATABASE_URL;
  if (dbUrl) {
    if (/^postgres(ql)?:\/\//.test(dbUrl)) {
      try {
        new URL(dbUrl);
        database = { dialect: 'postgres', url: dbUrl };
      } catch {
        problems.push('DATABASE_URL is not a valid postgres:// URL');
      }
    } else if (/^(sqlite|file):/.test(dbUrl)) {
      const file = dbUrl.replace(/^(sqlite|file):(\/\/)?/, '');
      if (!file) problems.push('DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/gateway.sqlite');
      else database = { dialect: 'sqlite', file: file === ':memory:' ? file : path.resolve(file) };
    } else {
      problems.push('DATABASE_URL must start with postgres://, postgresql://, sqlite: or file:');
    }
  }

  let publicUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (env.PUBLIC_URL) {
    try {
      const url = new URL(env.PUBLIC_URL);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
      publicUrl = env.PUBLIC_URL.replace(/\/+$/, '');
    } catch {
      problems.push(`PUBLIC_URL must be an http(s) URL, got ${JSON.stringify(env.PUBLIC_URL)}`);
    }
  }

  let signingSecret: string | null = null;
  if (env.SIGNING_SECRET) {
    if (env.SIGNING_SECRET.length < 32) problems.push('SIGNING_SECRET must be at least 32 characters');
    else signingSecret = env.SIGNING_SECRET;
  } else if (production) {
    problems.push('SIGNING_SECRET is required when NODE_ENV=production (at least 32 characters)');
  }

  const logLevel = (env.LOG_LEVEL || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  if (problems.length > 0) throw badInput(`Invalid configuration:\n- ${problems.join('\n- ')}`);
  return { port, host, dataDir, database, publicUrl, signingSecret, production, logLevel };
}
