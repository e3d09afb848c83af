/**
 * Child-process entry of the fake Gmail server (see `./process.ts`): starts a fake with the
 * options in `FAKE_GMAIL_OPTIONS` (JSON), reports its URLs and default OAuth client over IPC, then
 * answers commands from the parent until the IPC channel closes. Run it through
 * {@link import('./process.ts').spawnFakeGmail}, never directly.
 */
import fs from 'node:fs';
import { startFakeGmail, type FakeGmailOptions } from './index.ts';
import type { FaultAction } from './faults.ts';

interface Command {
  id: number;
  cmd: 'add' | 'refreshToken' | 'fault' | 'requests' | 'rss' | 'expireAttachmentIds';
  args: Record<string, unknown>;
}

const send = (message: unknown) => process.send!(message);
const options = JSON.parse(process.env.FAKE_GMAIL_OPTIONS ?? '{}') as FakeGmailOptions;
const fake = await startFakeGmail(options);

process.on('message', (raw) => {
  const { id, cmd, args } = raw as Command;
  try {
    let result: unknown;
    switch (cmd) {
      case 'add': {
        const stored = fake.add(
          { raw: fs.readFileSync(String(args.path)), sent: args.sent === true, labelIds: args.labelIds as string[] | undefined, internalDate: args.internalDate as number | undefined },
          args.address as string | undefined,
        );
        result = { id: stored.id, threadId: stored.threadId };
        break;
      }
      case 'refreshToken':
        result = fake.refreshToken(args.address as string | undefined, args.scopes as string[] | undefined);
        break;
      case 'fault':
        fake.faults.add(args.match as { path?: string }, args.action as FaultAction, (args.times as number | null) ?? 1);
        result = null;
        break;
      case 'requests':
        result = fake.requests;
        break;
      case 'rss':
        result = process.memoryUsage().rss;
        break;
      case 'expireAttachmentIds':
        fake.attachmentIds.expireAll();
        result = null;
        break;
    }
    send({ id, result });
  } catch (e) {
    send({ id, error: String(e) });
  }
});

process.on('disconnect', () => {
  void fake.close().finally(() => process.exit(0));
});

send({ ready: { origin: fake.origin, tokenUrl: fake.tokenUrl, authUrl: fake.authUrl, clientId: fake.client.clientId, clientSecret: fake.client.clientSecret } });
