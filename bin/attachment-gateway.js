#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx, so `npx attachment-gateway` works right after
// `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
