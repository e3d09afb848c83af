/**
 * Demo data for `serve --demo`: a workspace `demo`, an API key and a local mailbox over a
 * generated mbox, so a first start shows something in GraphiQL with no mail account.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../domain/logger.ts';
import type { Store, Workspace } from '../store/types.ts';
import { DEMO_ADDRESS, generateDemoMailbox } from './mailbox.ts';

/** Name of the demo workspace. */
export const DEMO_WORKSPACE = 'demo';
/** File in DATA_DIR keeping the demo API key (mode 0600), so later starts can show it again. */
export const DEMO_KEY_FILE = 'demo-api-key';

/**
 * Makes sure the demo workspace, its key and its mailbox exist, creating what is missing; reuses
 * the key kept in `DATA_DIR/demo-api-key` while it still authenticates for the demo workspace.
 * @param dataDir DATA_DIR; the demo mbox is generated under `DATA_DIR/demo/`
 * @returns the demo API key (plain)
 */
export async function bootstrapDemo(store: Store, dataDir: string, logger: Logger): Promise<{ apiKey: string }> {
  const workspace = (await store.findWorkspaceByName(DEMO_WORKSPACE)) ?? (await createDemoWorkspace(store, logger));

  const keyFile = path.join(dataDir, DEMO_KEY_FILE);
  let apiKey = (await fs.readFile(keyFile, 'utf8').catch(() => '')).trim();
  const owner = apiKey ? await store.authenticate(apiKey) : null;
  if (!owner || owner.workspace.id !== workspace.id) {
    apiKey = (await store.createApiKey(workspace.id)).key;
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    // Replace, not append; chmod too, since mode applies only when the file is created.
    await fs.writeFile(keyFile, `${apiKey}\n`, { mode: 0o600 });
    await fs.chmod(keyFile, 0o600);
    logger.info({ file: keyFile }, 'Created the demo API key');
  }

  const mailboxes = await store.listMailboxes(workspace.id);
  if (!mailboxes.some((m) => m.provider === 'LOCAL' && m.address === DEMO_ADDRESS)) {
    const mboxPath = path.resolve(await generateDemoMailbox(path.join(dataDir, 'demo')));
    const mailbox = await store.addMailbox({
      workspaceId: workspace.id,
      provider: 'LOCAL',
      address: DEMO_ADDRESS,
      displayName: 'Demo mailbox',
      settings: { path: mboxPath },
      credentials: null,
    });
    logger.info({ mailbox: mailbox.id, path: mboxPath }, 'Created the demo mailbox');
  }

  logger.info(`Demo workspace "${DEMO_WORKSPACE}": API key ${apiKey} (kept in ${keyFile}; send it as "Authorization: Bearer <key>")`);
  return { apiKey };
}

async function createDemoWorkspace(store: Store, logger: Logger): Promise<Workspace> {
  const workspace = await store.createWorkspace(DEMO_WORKSPACE);
  logger.info({ workspace: workspace.id }, 'Created the demo workspace');
  return workspace;
}
