/**
 * The gateway process of the Graph bench rows (`bench/graph.ts`): `startServer` as `serve` runs
 * it, on a fresh SQLite store, with the MICROSOFT_GRAPH provider in its registry fed by static
 * access tokens (the registry line for msal token sources lands when the auth branch is merged).
 *
 * Input (environment): the gateway's configuration (`PORT`, `DATA_DIR`, `MS_GRAPH_ROOT`, ...) and
 * `BENCH_GRAPH_TOKENS`, a JSON object of mailbox address → access token. Output: one JSON line on
 * stdout `{ url, apiKey, mailboxIds: { address: globalId } }` once it listens.
 */
import { loadConfig } from '../src/config.ts';
import { createStore } from '../src/db/store.ts';
import { encodeNodeId } from '../src/ids.ts';
import { createLogger } from '../src/logger.ts';
import { createGraphProvider } from '../src/providers/microsoft-graph/provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { startServer } from '../src/server.ts';

const tokens = JSON.parse(process.env.BENCH_GRAPH_TOKENS ?? '{}') as Record<string, string>;
const config = loadConfig(process.env);
const secret = 'bench-graph-secret-'.padEnd(48, 'x');
const store = createStore(config, secret);
await store.migrate();
const workspace = await store.createWorkspace('bench-graph');
const { key } = await store.createApiKey(workspace.id);
const logger = createLogger('silent');
const registry = new ProviderRegistry({ dataDir: config.dataDir, logger, microsoft: config.microsoft }, store, {
  MICROSOFT_GRAPH: (mailbox, deps) => createGraphProvider(mailbox, deps, { accessToken: async () => tokens[mailbox.address ?? ''] ?? '', invalidate: () => {} }),
});
const mailboxIds: Record<string, string> = {};
for (const address of Object.keys(tokens)) {
  const { id } = await store.addMailbox({ workspaceId: workspace.id, provider: 'MICROSOFT_GRAPH', address, displayName: address, settings: { mode: 'delegated' }, credentials: { refreshToken: 'static bench token' } });
  mailboxIds[address] = encodeNodeId('Mailbox', [id]);
}
const server = await startServer({ config, store, logger, secret, providers: (mailbox) => registry.get(mailbox) });
process.stdout.write(`${JSON.stringify({ url: server.url, apiKey: key, mailboxIds })}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => registry.close()).then(() => store.close()).finally(() => process.exit(0));
});
