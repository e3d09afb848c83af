/**
 * `npm run bench:gmail`: the Gmail rows of `npm run bench` alone (`./gmail.ts`), without the IMAP
 * rows and their Dovecot. BENCH_ROUNDS sets the rounds per size (default 3). Exits 1 when a target
 * is missed.
 */
import { gmailBench } from './gmail.ts';

async function main(): Promise<void> {
  const failed = await gmailBench(Number(process.env.BENCH_ROUNDS ?? 3));
  if (failed) process.exitCode = 1;
}

void main();
