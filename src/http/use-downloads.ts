/** Yoga plugin answering `/attachments/:token` before GraphQL handling (the fetch-API path of downloads). */
import type { Plugin } from 'graphql-yoga';
import { handleDownloadRequest, downloadTokenOf, type DownloadDeps } from './download.ts';

/** Serves downloads from yoga's `onRequest`, so `gateway.fetch` and any fetch-based host get them. */
export function useDownloads(deps: DownloadDeps): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      const token = downloadTokenOf(url.pathname);
      if (token === null) return;
      endResponse(await handleDownloadRequest(deps, request, token));
    },
  };
}
