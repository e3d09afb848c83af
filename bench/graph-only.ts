/**
 * `npm run bench:graph`: the Microsoft Graph rows of `npm run bench` alone (`./graph.ts`), without
 * the IMAP and Gmail rows. BENCH_ROUNDS sets the rounds per size (default 3); BENCH_GRAPH_SIZES the
 * attachment sizes in MiB (default `1,25,100`; 25 is always made, for the warm-up). Exits 1 when a
 * target is missed.
 */
import { relaunchWithTestCa } from '../test/support/fake-graph/process.ts';
import { graphBench } from './graph.ts';

// First: the fake Graph speaks HTTPS with a CA made for the run, trusted only from the start.
await relaunchWithTestCa();
if (await graphBench(Number(process.env.BENCH_ROUNDS ?? 3))) process.exitCode = 1;
