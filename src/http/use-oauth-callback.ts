/** Yoga plugin answering `GET /oauth/callback`, the end of `mailbox connect` (`src/connect/callback.ts`), before any API-key check. */
import type { Plugin } from 'graphql-yoga';
import { OAUTH_CALLBACK_PATH } from '../connect/start.ts';

/** Serves the OAuth callback from yoga's `onRequest`; put it before the HTTP surface (which answers unknown paths 404). */
export function useOAuthCallback(handle: (request: Request) => Promise<Response>): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== OAUTH_CALLBACK_PATH || request.method === 'OPTIONS') return;
      endResponse(await handle(request));
    },
  };
}
