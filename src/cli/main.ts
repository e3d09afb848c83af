/**
 * Entry point of the operator CLI; `bin/attachment-gateway.js` imports it. Runs the command line
 * of this process and exits with the code {@link run} returns.
 */
import { run } from './program.ts';

const code = await run(process.argv);
// Flush stdout (a pipe may still hold the printed key) before exiting; exiting explicitly ends the
// process even when a provider left a socket or timer open.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
