/**
 * Child-process entry of the fake Microsoft Graph (see `./process.ts`): starts a fake with the
 * options in `FAKE_GRAPH_OPTIONS` (JSON) and the CA of `FAKE_GRAPH_CA_DIR`, reports its URLs,
 * tenant and default app over IPC, then answers commands from the parent until the IPC channel
 * closes. Run it through {@link import('./process.ts').spawnFakeGraph}, never directly.
 */
import fs from 'node:fs';
import type { FaultAction, FaultMatch } from './faults.ts';
import type { RotationPolicy } from './identity.ts';
import { startFakeGraph, type FakeGraphOptions } from './index.ts';

interface Command {
  id: number;
  cmd: 'add' | 'refreshToken' | 'accessToken' | 'fault' | 'clearFaults' | 'requests' | 'rss' | 'grantAppAccess' | 'revokeUser' | 'expireAccessTokens' | 'rotation';
  args: Record<string, unknown>;
}

const send = (message: unknown) => process.send!(message);
const options = JSON.parse(process.env.FAKE_GRAPH_OPTIONS ?? '{}') as FakeGraphOptions;
const fake = await startFakeGraph(options);

async function run({ cmd, args }: Command): Promise<unknown> {
  const address = args.address as string | undefined;
  switch (cmd) {
    case 'add': {
      const stored = fake.add(
        { raw: fs.readFileSync(String(args.path)), folder: args.folder as string | undefined, received: typeof args.received === 'string' ? new Date(args.received) : undefined },
        address,
      );
      return { restId: stored.restId, immutableId: stored.immutableId, conversationId: stored.conversationId };
    }
    case 'refreshToken':
      return fake.refreshToken(address, args.scopes as string[] | undefined);
    case 'accessToken':
      return fake.accessToken(address, args.kind === 'application' ? 'application' : 'delegated');
    case 'fault':
      fake.faults.add(args.match as FaultMatch, args.action as FaultAction, (args.times as number | null) ?? Infinity);
      return null;
    case 'clearFaults':
      fake.faults.clear();
      return null;
    case 'requests':
      return fake.requests;
    case 'rss':
      return process.memoryUsage().rss;
    case 'grantAppAccess':
      fake.grantAppAccess(String(address), args.granted === true);
      return null;
    case 'revokeUser':
      fake.identity.revokeUser(String(address));
      return null;
    case 'expireAccessTokens':
      fake.identity.expireAccessTokens();
      return null;
    case 'rotation':
      fake.identity.rotation = args.policy as RotationPolicy;
      return null;
  }
}

process.on('message', (raw) => {
  const command = raw as Command;
  run(command).then(
    (result) => send({ id: command.id, result }),
    (e: unknown) => send({ id: command.id, error: String(e) }),
  );
});

process.on('disconnect', () => {
  void fake.close().finally(() => process.exit(0));
});

send({
  ready: {
    origin: fake.origin,
    serviceRoot: fake.serviceRoot,
    tenantId: fake.tenantId,
    authority: fake.authority,
    knownAuthorities: fake.knownAuthorities,
    clientId: fake.app.clientId,
    clientSecret: fake.app.clientSecret,
    users: (options.addresses ?? [fake.mailbox().address]).map((a) => ({ address: a, id: fake.mailbox(a).user.id })),
  },
});
