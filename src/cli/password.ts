/**
 * Where mailbox passwords come from: never a command-line argument (it would show in `ps` and in
 * shell history), but the IMAP_PASSWORD environment variable or standard input.
 */
import { badInput } from '../errors.ts';

/** Reads all of `stdin` and strips one trailing line break (as `echo` or a here-string adds). */
export async function readSecretFromStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * The IMAP password: from stdin when `passwordStdin`, else from `env.IMAP_PASSWORD`.
 * @throws GatewayError BAD_USER_INPUT when neither gives a non-empty password
 */
export async function resolveImapPassword(passwordStdin: boolean, env: NodeJS.ProcessEnv = process.env, stdin?: NodeJS.ReadableStream): Promise<string> {
  if (passwordStdin) {
    const password = await readSecretFromStdin(stdin);
    if (password === '') throw badInput('--password-stdin was given but standard input was empty');
    return password;
  }
  const fromEnv = env.IMAP_PASSWORD;
  if (fromEnv) return fromEnv;
  throw badInput('No IMAP password: set IMAP_PASSWORD or pipe it with --password-stdin (a --password argument is refused)');
}
