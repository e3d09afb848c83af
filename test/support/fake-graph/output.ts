/**
 * Answers of the fake and how they are written: Graph's response headers, JSON bodies with the
 * OData content type, and bodies written in chunks so a fault can slow or cut them.
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import { graphErrorBody, type GraphError } from './errors.ts';

/** An answer before it is written. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Destroy the socket after this many body bytes (a fault). */
  cutAfter?: number;
  /** Pause this long between 64 KiB chunks of the body (a fault). */
  chunkDelayMs?: number;
  /** Never answer (a fault); the socket is dropped when the server closes. */
  hang?: boolean;
}

/** Graph's JSON content type (what graph.microsoft.com sends for OData answers). */
export const ODATA_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** A JSON answer. */
export function jsonReply(status: number, body: object, headers: Record<string, string> = {}, contentType = ODATA_JSON): Reply {
  return { status, headers: { 'content-type': contentType, ...headers }, body: Buffer.from(JSON.stringify(body)) };
}

/** A Graph error answer (`{error: {code, message, innerError}}`) with the error's own headers. */
export function errorReply(error: GraphError, requestId: string, clientRequestId: string | undefined): Reply {
  return jsonReply(error.status, graphErrorBody(error, requestId, clientRequestId), { ...error.headers }, 'application/json');
}

/** The headers Graph puts on every answer, with a fresh `request-id`. */
export function graphHeaders(clientRequestId: string | undefined): { requestId: string; headers: Record<string, string> } {
  const requestId = crypto.randomUUID();
  return {
    requestId,
    headers: {
      'request-id': requestId,
      'client-request-id': clientRequestId ?? requestId,
      'x-ms-ags-diagnostic': JSON.stringify({ ServerInfo: { DataCenter: 'Fake Region', Slice: 'E', Ring: '5', ScaleUnit: '000', RoleInstance: 'FAKE0001', ADSiteName: 'FAKE' } }),
      'strict-transport-security': 'max-age=31536000',
      'cache-control': 'no-cache',
    },
  };
}

const CHUNK = 64 * 1024;

/**
 * Writes an answer: status, headers with the exact Content-Length, then the body in chunks with
 * back-pressure. A cut destroys the socket after `cutAfter` body bytes; a hang writes nothing.
 * @param sleep a timer the server can cancel when it closes
 */
export async function send(res: http.ServerResponse, reply: Reply, sleep: (ms: number) => Promise<void>): Promise<void> {
  if (reply.hang) return;
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(reply.body.length) });
  if (res.req.method === 'HEAD' || reply.body.length === 0) {
    res.end();
    return;
  }
  const cut = reply.cutAfter !== undefined && reply.cutAfter < reply.body.length;
  const limit = cut ? reply.cutAfter! : reply.body.length;
  if (cut && limit === 0) res.flushHeaders();
  for (let offset = 0; offset < limit; offset += CHUNK) {
    if (res.destroyed) return;
    const chunk = reply.body.subarray(offset, Math.min(offset + CHUNK, limit));
    if (cut && offset + CHUNK >= limit) {
      // The bytes before the cut must reach the client before the connection drops.
      await new Promise<void>((resolve) => {
        res.write(chunk, () => resolve());
        res.once('close', resolve);
      });
      break;
    }
    if (!res.write(chunk)) await drainOrClose(res);
    if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
  }
  if (cut) {
    res.destroy();
    return;
  }
  res.end();
}

/** Waits until `res` can take more bytes or is closed, leaving no listener behind. */
function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
