/**
 * Configuration from the environment, validated at start. Every bad value gets its own line in
 * the one error thrown, so an operator fixes them all in one go.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | PORT | 4000 | TCP port of the HTTP server (loopback unless HOST says otherwise) |
 * | HOST | 127.0.0.1 | interface to listen on |
 * | DATA_DIR | ./data | SQLite file, generated secret, local-store indexes, demo mailbox; must be a writable directory or creatable as one |
 * | DATABASE_URL | sqlite file `DATA_DIR/gateway.sqlite` | `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (or `postgresql://`) for PostgreSQL, `sqlite:PATH` or `file:PATH` for SQLite |
 * | PUBLIC_URL | http://HOST:PORT | base of signed download URLs as clients reach the gateway |
 * | SIGNING_SECRET | generated in DATA_DIR/secret | secret for download tokens and credential encryption; at least 32 chars; required when NODE_ENV=production |
 * | LOG_LEVEL | info | pino level |
 * | GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_COST, GRAPHQL_MAX_ALIASES, GRAPHQL_MAX_DIRECTIVES, GRAPHQL_MAX_TOKENS | see {@link DEFAULT_LIMITS} | per-document limits |
 * | GRAPHQL_MAX_BODY_BYTES | 1048576 | largest GraphQL POST body (bytes); larger ones answer 413 |
 * | GRAPHQL_MAX_QUERY_STRING_BYTES | 16384 | largest query string of a GraphQL GET (bytes); longer ones answer 414 |
 * | REQUEST_DEADLINE_MS | 30000 | deadline of one GraphQL request (ms); past it the answer is DEADLINE_EXCEEDED (504) |
 * | API_KEY_CACHE_MS | 10000 | how long an API key lookup is reused (ms); a revoked key stops working within this time |
 * | GRAPHQL_MAX_CONCURRENT, GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE, GRAPHQL_MAX_QUEUED | 32, 8, 256 | operations executing at once (process, workspace) and waiting; beyond them SERVER_BUSY (503) |
 * | GRAPHQL_FIELD_SUGGESTIONS | false | `true` lets validation errors suggest field names ("Did you mean ...") |
 * | CORS_ORIGINS | (none: CORS off) | comma-separated exact origins (`https://app.example.org`) whose pages may call `/graphql` from a browser |
 * | GRAPHIQL | on with `--demo` or NODE_ENV=development, else off | `true` / `false`: serve GraphiQL at `GET /graphql` (Accept: text/html) |
 */
import fs from 'node:fs';
import path from 'node:path';
import { envInteger, readUpstreamConfig, type UpstreamConfig } from './config-upstream.ts';
import { badInput } from './errors.ts';

/** The validated configuration (the IMAP and download limits: see `src/config-upstream.ts`). */
export interface Config extends UpstreamConfig {
  port: number;
  host: string;
  dataDir: string;
  database: { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string };
  publicUrl: string;
  /** Null when not given: the server generates one and keeps it in DATA_DIR (not in production). */
  signingSecret: string | null;
  production: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: Limits;
  /** NODE_ENV=development (GraphiQL on by default). */
  development: boolean;
  /** Exact origins (scheme://host[:port]) allowed to call `/graphql` cross-origin; empty: CORS off. */
  corsOrigins: string[];
  /** GRAPHIQL: true/false, or null for the default (on in `--demo` and development). */
  graphiql: boolean | null;
}

/** Bounds on the work one GraphQL request may ask for (see README "Limits"). */
export interface Limits {
  /** Deepest field nesting of an operation (fragments flattened; a relay list costs 3 levels). */
  maxDepth: number;
  /** Highest estimated cost of an operation (see `src/http/query-cost.ts`). */
  maxCost: number;
  /** Most aliases in an operation. */
  maxAliases: number;
  /** Most directives in an operation. */
  maxDirectives: number;
  /** Most lexical tokens in a document; counted while parsing, which stops at the limit. */
  maxTokens: number;
  /** Largest GraphQL POST body, bytes. */
  maxBodyBytes: number;
  /** Largest query string of a GraphQL GET, bytes. */
  maxQueryStringBytes: number;
  /** Deadline of one GraphQL request, ms. */
  deadlineMs: number;
  /** How long an API key lookup is cached, ms (0: no cache). */
  apiKeyCacheMs: number;
  /** Operations executing at once in the process. */
  maxConcurrent: number;
  /** Operations of one workspace executing at once. */
  maxConcurrentPerWorkspace: number;
  /** Operations waiting for an execution slot (process-wide, and again per workspace). */
  maxQueued: number;
  /** Whether validation errors may suggest names ("Did you mean ...?"). */
  fieldSuggestions: boolean;
}

/** The default {@link Limits}: the README's, the examples' and the tests' operations fit with room. */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxDepth: 12,
  maxCost: 500_000,
  maxAliases: 20,
  maxDirectives: 20,
  maxTokens: 2_000,
  maxBodyBytes: 1_048_576,
  maxQueryStringBytes: 16_384,
  deadlineMs: 30_000,
  apiKeyCacheMs: 10_000,
  maxConcurrent: 32,
  maxConcurrentPerWorkspace: 8,
  maxQueued: 256,
  fieldSuggestions: false,
};

/** Environment variable of each numeric limit, with its smallest and largest accepted value. */
const LIMIT_VARIABLES: Record<Exclude<keyof Limits, 'fieldSuggestions'>, [name: string, min: number, max: number]> = {
  maxDepth: ['GRAPHQL_MAX_DEPTH', 1, 1_000],
  maxCost: ['GRAPHQL_MAX_COST', 1, 1e12],
  maxAliases: ['GRAPHQL_MAX_ALIASES', 0, 100_000],
  maxDirectives: ['GRAPHQL_MAX_DIRECTIVES', 0, 100_000],
  maxTokens: ['GRAPHQL_MAX_TOKENS', 10, 10_000_000],
  maxBodyBytes: ['GRAPHQL_MAX_BODY_BYTES', 1_024, 1 << 30],
  maxQueryStringBytes: ['GRAPHQL_MAX_QUERY_STRING_BYTES', 256, 1 << 20],
  deadlineMs: ['REQUEST_DEADLINE_MS', 100, 3_600_000],
  apiKeyCacheMs: ['API_KEY_CACHE_MS', 0, 300_000],
  maxConcurrent: ['GRAPHQL_MAX_CONCURRENT', 1, 10_000],
  maxConcurrentPerWorkspace: ['GRAPHQL_MAX_CONCURRENT_PER_WORKSPACE', 1, 10_000],
  maxQueued: ['GRAPHQL_MAX_QUEUED', 0, 100_000],
};

/** The limits from the environment; bad values are pushed to `problems`. */
function loadLimits(env: NodeJS.ProcessEnv, problems: string[]): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [key, [name, min, max]] of Object.entries(LIMIT_VARIABLES) as [keyof typeof LIMIT_VARIABLES, [string, number, number]][]) {
    limits[key] = envInteger(env, name, min, max, problems) ?? limits[key];
  }
  const suggestions = env.GRAPHQL_FIELD_SUGGESTIONS;
  if (suggestions !== undefined && suggestions !== '') {
    if (suggestions === 'true' || suggestions === 'false') limits.fieldSuggestions = suggestions === 'true';
    else problems.push(`GRAPHQL_FIELD_SUGGESTIONS must be true or false, got ${JSON.stringify(suggestions)}`);
  }
  return limits;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Reads and validates the configuration.
 * @param env the environment (default `process.env`)
 * @param overrides values from CLI flags, which win over the environment
 * @throws GatewayError BAD_USER_INPUT naming every invalid variable (one line, or one line each when several)
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

  const dataDirProblem = unusableDirectory(dataDir);
  if (dataDirProblem) problems.push(`DATA_DIR ${dataDir} is not a usable directory (it cannot be created or written): ${dataDirProblem}`);

  let database: Config['database'] = { dialect: 'sqlite', file: path.join(dataDir, 'gateway.sqlite') };
  const dbUrl = env.DATABASE_URL;
  if (dbUrl) {
    const parsed = parseDatabaseUrl(dbUrl, env);
    if (typeof parsed === 'string') problems.push(parsed);
    else database = parsed;
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

  const limits = loadLimits(env, problems);

  const logLevel = (env.LOG_LEVEL || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const upstream = readUpstreamConfig(env, problems);
  const corsOrigins = parseCorsOrigins(env.CORS_ORIGINS, problems);
  let graphiql: boolean | null = null;
  if (env.GRAPHIQL !== undefined && env.GRAPHIQL !== '') {
    if (/^(true|1|on|yes)$/i.test(env.GRAPHIQL)) graphiql = true;
    else if (/^(false|0|off|no)$/i.test(env.GRAPHIQL)) graphiql = false;
    else problems.push(`GRAPHIQL must be true or false, got ${JSON.stringify(env.GRAPHIQL)}`);
  }

  // One problem stays on one line (scripts grep stderr); several are listed one per line.
  if (problems.length === 1) throw badInput(`Invalid configuration: ${problems[0]}`);
  if (problems.length > 1) throw badInput(`Invalid configuration:\n- ${problems.join('\n- ')}`);
  return { port, host, dataDir, database, publicUrl, signingSecret, production, logLevel, limits, ...upstream, development: env.NODE_ENV === 'development', corsOrigins, graphiql };
}

/**
 * CORS_ORIGINS: comma-separated exact origins, each `http(s)://host[:port]` as browsers send it in
 * `Origin` (no path, no trailing slash, no wildcard). Problems go to `problems`.
 */
function parseCorsOrigins(value: string | undefined, problems: string[]): string[] {
  if (value === undefined || value.trim() === '') return [];
  const origins: string[] = [];
  for (const item of value.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    let origin: string | null = null;
    try {
      const url = new URL(item);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.origin === item && !item.includes('*')) origin = item;
    } catch {
      origin = null;
    }
    if (origin === null) {
      problems.push(`CORS_ORIGINS entries must be exact origins like https://app.example.org (scheme, lower-case host, optional port; no path, slash or wildcard), got ${JSON.stringify(item)}`);
    } else if (!origins.includes(origin)) origins.push(origin);
  }
  return origins;
}

const POSTGRES_FORM = 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE';

/**
 * The database a DATABASE_URL names, or the problem line when it cannot work. Checks the form only
 * (no connection): pg would otherwise fill a missing host, user or database with defaults and fail
 * later with a less helpful message. Never quotes the URL itself (it may hold a password).
 */
function parseDatabaseUrl(dbUrl: string, env: NodeJS.ProcessEnv): Config['database'] | string {
  if (/^postgres(ql)?:/i.test(dbUrl)) {
    let url: URL;
    try {
      url = new URL(dbUrl);
      decodeURIComponent(url.username);
      decodeURIComponent(url.password);
      decodeURIComponent(url.pathname);
    } catch {
      return `DATABASE_URL is not a valid URL; expected ${POSTGRES_FORM}`;
    }
    const missing: string[] = [];
    if (!/^\/\//.test(dbUrl.slice(url.protocol.length))) missing.push('the // after the scheme');
    if (!url.hostname && !url.searchParams.get('host')) missing.push('a host');
    // pg falls back to PGUSER, then USER, for a URL without one.
    if (!url.username && !env.PGUSER && !env.USER) missing.push('a user name (and neither PGUSER nor USER is set)');
    if (url.pathname.replace(/^\//, '') === '') missing.push('a database name');
    if (missing.length > 0) {
      const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}`;
      return `DATABASE_URL lacks ${list}; expected ${POSTGRES_FORM}`;
    }
    return { dialect: 'postgres', url: dbUrl };
  }
  if (/^(sqlite|file):/i.test(dbUrl)) {
    const file = dbUrl.replace(/^(sqlite|file):(\/\/)?/i, '');
    if (!file) return 'DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/gateway.sqlite';
    if (file === ':memory:') return { dialect: 'sqlite', file };
    const resolved = path.resolve(file);
    const problem = unusableDirectory(path.dirname(resolved));
    if (problem) return `DATABASE_URL names the SQLite file ${resolved}, whose folder is not usable (it cannot be created or written): ${problem}`;
    return { dialect: 'sqlite', file: resolved };
  }
  return 'DATABASE_URL must start with postgres://, postgresql://, sqlite: or file:';
}

/**
 * The database as it may be shown in messages and logs: `postgres://HOST:PORT/DATABASE` with the
 * user, password and query parameters left out (`(credentials hidden)` says so when there were
 * any), or `SQLite file PATH`.
 */
export function describeDatabase(database: Config['database']): string {
  if (database.dialect === 'sqlite') return `SQLite file ${database.file}`;
  let url: URL;
  try {
    url = new URL(database.url);
  } catch {
    return 'postgres://(unparsable URL)';
  }
  const host = url.hostname || url.searchParams.get('host') || '';
  const hidden = url.username !== '' || url.password !== '' || url.searchParams.has('password');
  return `${url.protocol}//${host}:${url.port || '5432'}${url.pathname || '/'}${hidden ? ' (credentials hidden)' : ''}`;
}

/**
 * Why `dir` cannot be used as a writable directory, or null when it can. Checks without creating
 * anything: `dir` must be a writable directory, or else the nearest folder that exists above it
 * must be one (so that `dir` can be created there).
 */
function unusableDirectory(dir: string): string | null {
  let current = dir;
  for (;;) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = path.dirname(current);
      // ENOTDIR: a component above is a file; walking up finds and names it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && parent !== current) {
        current = parent;
        continue;
      }
      return `cannot access ${current} (${code ?? String(error)})`;
    }
    if (!stat.isDirectory()) return `${current} is not a directory`;
    try {
      fs.accessSync(current, fs.constants.W_OK | fs.constants.X_OK);
    } catch (error) {
      return `${current} is not writable (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
    }
    return null;
  }
}
