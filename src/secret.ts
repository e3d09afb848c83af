/**
 * The server secret: signs download tokens and derives the key that encrypts mailbox credentials
 * (`src/db/credentials.ts`). Changing it invalidates every download URL and makes stored
 * credentials unreadable.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';
import { GatewayError } from './errors.ts';

/** Name of the file in DATA_DIR that keeps a generated secret. */
export const SECRET_FILE = 'secret';

/**
 * The configured SIGNING_SECRET; else the one kept in `DATA_DIR/secret`; else a new one (32
 * random bytes, base64url) written there with mode 0600, creating DATA_DIR (mode 0700) if needed.
 * In production loadConfig already refuses to start without SIGNING_SECRET.
 * @throws GatewayError INTERNAL when the secret file exists but is empty or too short (under 32 chars)
 */
export async function resolveSigningSecret(config: Pick<Config, 'signingSecret' | 'dataDir'>): Promise<string> {
  if (config.signingSecret) return config.signingSecret;
  const file = path.join(config.dataDir, SECRET_FILE);
  try {
    return checked(await fs.readFile(file, 'utf8'), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = crypto.randomBytes(32).toString('base64url');
  try {
    // 'wx' fails if another process created the file meanwhile; then that one's secret wins.
    await fs.writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return checked(await fs.readFile(file, 'utf8'), file);
  }
}

function checked(text: string, file: string): string {
  const secret = text.trim();
  if (secret.length < 32) {
    throw new GatewayError('INTERNAL', `The secret in ${file} is shorter than 32 characters; delete the file to generate a new one (stored credentials will be lost) or restore it`);
  }
  return secret;
}
