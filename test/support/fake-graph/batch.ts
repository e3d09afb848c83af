/**
 * JSON batching of the fake Graph: `POST /v1.0/$batch` with `{requests: [{id, method, url,
 * headers?, body?, dependsOn?}]}`, answered `{responses: [{id, status, headers, body}]}`.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/json-batching (at most 20 requests; relative
 * URLs; `dependsOn` sequencing and 424 Failed Dependency; responses possibly in another order than
 * the requests; a non-JSON body comes back base64-encoded), and Microsoft's answer that Graph
 * dispatches at most four requests of a batch to Outlook at once (so each inner request also
 * takes one of its mailbox's four concurrency slots: two busy batches on one mailbox get 429s).
 * Wording of the 400s for a malformed batch is the fake's own.
 */
import { GraphErrors, type GraphError } from './errors.ts';
import type { Reply } from './output.ts';

/** At most this many requests in one batch. */
export const MAX_BATCH_REQUESTS = 20;
/** Requests of one batch running at once. */
const BATCH_PARALLELISM = 4;

/** One request of a batch. */
export interface BatchRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  dependsOn: string[];
}

/** One response of a batch, as written. */
export interface BatchResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

/** In which order the responses are written. */
export type BatchOrder = 'given' | 'reversed' | 'shuffled';

/** Parses and checks a batch body. */
export function parseBatch(body: Buffer): BatchRequest[] | GraphError {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return GraphErrors.badRequest('Invalid batch payload format: the body is not JSON.');
  }
  const list = (doc as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(list)) return GraphErrors.badRequest("Invalid batch payload format: 'requests' must be an array.");
  if (list.length === 0) return GraphErrors.badRequest('Invalid batch payload format: the batch holds no request.');
  if (list.length > MAX_BATCH_REQUESTS) return GraphErrors.badRequest(`The number of requests in a batch (${list.length}) exceeds the maximum of ${MAX_BATCH_REQUESTS}.`);
  const out: BatchRequest[] = [];
  const ids = new Set<string>();
  for (const item of list as Record<string, unknown>[]) {
    if (typeof item !== 'object' || item === null || typeof item.id !== 'string' || typeof item.method !== 'string' || typeof item.url !== 'string') {
      return GraphErrors.badRequest("Invalid batch payload format: every request needs string 'id', 'method' and 'url'.");
    }
    if (ids.has(item.id)) return GraphErrors.badRequest(`Request id '${item.id}' appears more than once in the batch.`);
    ids.add(item.id);
    const headers: Record<string, string> = {};
    if (item.headers && typeof item.headers === 'object') for (const [k, v] of Object.entries(item.headers)) headers[k.toLowerCase()] = String(v);
    const dependsOn = Array.isArray(item.dependsOn) ? item.dependsOn.map(String) : [];
    out.push({ id: item.id, method: item.method.toUpperCase(), url: item.url, headers, dependsOn });
  }
  for (const r of out) for (const d of r.dependsOn) if (!ids.has(d) || d === r.id) return GraphErrors.badRequest(`Request '${r.id}' depends on unknown request '${d}'.`);
  return out;
}

/**
 * Runs a batch's requests, at most four at once, each after the requests it depends on.
 * @param run answers one request (faults, auth and mailbox slots applied by the caller) and
 *   returns a release for its slot
 * @returns the responses in completion order, and the first inner fault that must hang or cut the whole answer
 */
export async function runBatch(requests: BatchRequest[], run: (r: BatchRequest) => Promise<{ reply: Reply; release: () => void }>): Promise<{ responses: BatchResponse[]; outerFault: Pick<Reply, 'hang' | 'cutAfter' | 'chunkDelayMs'> }> {
  const done = new Map<string, number>();
  const responses: BatchResponse[] = [];
  const outerFault: Pick<Reply, 'hang' | 'cutAfter' | 'chunkDelayMs'> = {};
  const pending = [...requests];
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const worker = async () => {
    for (;;) {
      const index = pending.findIndex((r) => r.dependsOn.every((d) => done.has(d)));
      if (index < 0) {
        if (pending.length === 0) return;
        // Wait for a running request to finish; its dependants may then run.
        await new Promise<void>((resolve) => waiters.push(resolve));
        continue;
      }
      const [request] = pending.splice(index, 1) as [BatchRequest];
      if (request.dependsOn.some((d) => (done.get(d) ?? 0) >= 400)) {
        responses.push(errorResponse(request.id, { status: 424, code: 'FailedDependency', message: 'The request could not be processed because a request it depends on failed.' }));
        done.set(request.id, 424);
        wake();
        continue;
      }
      const { reply, release } = await run(request);
      release();
      if (reply.hang) outerFault.hang = true;
      if (reply.cutAfter !== undefined) outerFault.cutAfter ??= reply.cutAfter;
      if (reply.chunkDelayMs !== undefined) outerFault.chunkDelayMs ??= reply.chunkDelayMs;
      responses.push(toResponse(request.id, reply));
      done.set(request.id, reply.status);
      wake();
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_PARALLELISM, requests.length) }, worker));
  return { responses, outerFault };
}

/** Puts the responses in the order asked for. */
export function orderResponses(responses: BatchResponse[], requests: BatchRequest[], order: BatchOrder): BatchResponse[] {
  const position = new Map(requests.map((r, i) => [r.id, i]));
  const given = [...responses].sort((a, b) => position.get(a.id)! - position.get(b.id)!);
  if (order === 'given') return given;
  if (order === 'reversed') return given.reverse();
  for (let i = given.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [given[i], given[j]] = [given[j]!, given[i]!];
  }
  return given;
}

/** An inner request's answer as a batch response: JSON bodies inline, other bodies base64. */
function toResponse(id: string, reply: Reply): BatchResponse {
  const type = reply.headers['content-type'] ?? '';
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'retry-after', 'odata-version', 'preference-applied', 'cache-control']) {
    const value = reply.headers[name];
    if (value !== undefined) headers[name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase()).replace('Odata', 'OData')] = value;
  }
  if (reply.body.length === 0) return reply.status === 204 ? { id, status: reply.status, headers } : { id, status: reply.status, headers, body: '' };
  if (/^application\/json/i.test(type)) return { id, status: reply.status, headers, body: JSON.parse(reply.body.toString('utf8')) as unknown };
  return { id, status: reply.status, headers, body: reply.body.toString('base64') };
}

function errorResponse(id: string, error: { status: number; code: string; message: string }): BatchResponse {
  return { id, status: error.status, headers: { 'Content-Type': 'application/json' }, body: { error: { code: error.code, message: error.message } } };
}
