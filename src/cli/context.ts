/**
 * What every CLI command starts from: the validated configuration (the same environment as the
 * server), a logger on stderr, the server secret and a migrated store.
 */
import { loadConfig, type Config } from '../config.ts';
import { createStore } from '../db/store.ts';
import { createLogger } from '../logger.ts';
import type { Logger } from '../domain/logger.ts';
import { resolveSigningSecret } from '../secret.ts';
import type { Store, Workspace } from '../store/types.ts';
import { GatewayError } from '../errors.ts';

/** Services of one CLI run. */
export interface CliContext {
  config: Config;
  logger: Logger;
  secret: string;
  store: Store;
}

/**
 * Opens the context, runs `fn`, and closes the store whatever happens.
 * @param overrides flag values that win over the environment (serve `--port`)
 * @throws GatewayError BAD_USER_INPUT listing every invalid variable (from loadConfig)
 */
export async function withContext<T>(fn: (ctx: CliContext) => Promise<T>, overrides: { port?: number } = {}): Promise<T> {
  const config = loadConfig(process.env, overrides);
  const logger = createLogger(config.logLevel);
  const secret = await resolveSigningSecret(config);
  const store = createStore(config, secret);
  try {
    await store.migrate();
    return await fn({ config, logger, secret, store });
  } finally {
    await store.close();
  }
}

/** The workspace called `name`. @throws GatewayError NOT_FOUND naming it */
export async function requireWorkspace(store: Store, name: string): Promise<Workspace> {
  const workspace = await store.findWorkspaceByName(name);
  if (!workspace) throw new GatewayError('NOT_FOUND', `Workspace ${JSON.stringify(name)} not found (create it with: attachment-gateway workspace create ${name})`);
  return workspace;
}
