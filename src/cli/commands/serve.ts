/**
 * `serve [--port N] [--demo]`: configuration → logger → store (migrated) → secret → optional demo
 * data → HTTP server, until SIGINT or SIGTERM.
 */
import type { Command } from 'commander';
import { loadConfig, type Config } from '../../config.ts';
import { createStore } from '../../db/store.ts';
import { createLogger } from '../../logger.ts';
import { badInput, type GatewayError } from '../../errors.ts';
import { resolveSigningSecret } from '../../secret.ts';
import { portParser } from '../options.ts';

/** Adds the `serve` command to `program`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Start the GraphQL gateway (listens on HOST:PORT, 127.0.0.1:4000 by default)')
    .option('--port <port>', 'TCP port, 0 for any free one (overrides PORT)', portParser(0))
    .option('--demo', 'create a demo workspace, API key and local mailbox on first start')
    .action(async (options: { port?: number; demo?: boolean }) => {
      const config = loadConfig(process.env, options.port === undefined ? {} : { port: options.port });
      const logger = createLogger(config.logLevel);
      // Listen for signals before anything starts: a SIGTERM that arrives while the server is
      // starting (or just after the "listening" line) must close it gracefully, not kill the process.
      const shutdown = waitForShutdownSignal(logger);
      const secret = await resolveSigningSecret(config);
      const store = createStore(config, secret);
      try {
        await store.migrate();
        let demoApiKey: string | null = null;
        if (options.demo) {
          const { bootstrapDemo } = await import('../../demo/bootstrap.ts');
          demoApiKey = (await bootstrapDemo(store, config.dataDir, logger)).apiKey;
        }
        // Loaded here, not at the top, so the operator commands work without the server module.
        const { startServer } = await import('../../server.ts');
        const server = await startServer({ config, store, logger, secret, demoApiKey }).catch((error: unknown) => {
          throw listenError(error, config) ?? error;
        });
        logger.info({ url: server.url }, `attachment-gateway listening on ${server.url}`);
        if (demoApiKey) logger.info(`GraphiQL: open ${server.url}/graphql (the demo API key is filled in); API key for other clients: ${demoApiKey}`);
        await shutdown;
        await server.close();
      } finally {
        await store.close();
      }
    });
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once with 130 / 143. */
function waitForShutdownSignal(logger: { info(msg: string): void }): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info(`${signal} received: closing (send it again to exit at once)`);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** A port taken or forbidden is the operator's to fix (exit 2), not a crash. */
function listenError(error: unknown, config: Config): GatewayError | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return badInput(`Port ${config.port} on ${config.host} is already in use (set PORT or --port)`);
  if (code === 'EACCES') return badInput(`Not allowed to listen on ${config.host}:${config.port} (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL') return badInput(`HOST ${config.host} is not an address of this machine`);
  return null;
}
