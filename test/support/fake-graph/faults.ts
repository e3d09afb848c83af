/**
 * Scripted faults and the request log of the fake Microsoft Graph.
 *
 * A rule matches requests (outer HTTP requests and the requests inside a `$batch`) by method, kind, path
 * (string: exact path where `*` stands for one segment and a trailing `*` for any rest; or a RegExp;
 * paths are as Graph sees them, e.g. `/v1.0/me/messages/*`, `/{tenant}/oauth2/v2.0/token`) and
 * query values, for a number of hits, and then does one thing: answer an error (a
 * {@link GraphErrors} preset or any status and body, with `Retry-After`), delay the real answer,
 * slow its body (a pause between 64 KiB chunks), cut its body after K bytes (the socket is
 * destroyed: the client sees fewer bytes than Content-Length), or hang (never answer). Inside a
 * batch an error becomes that response's status; a delay delays that response; a cut or a hang
 * applies to the whole batch answer.
 */
import type { GraphErrorName } from './errors.ts';

/** Which requests a rule applies to. */
export interface FaultMatch {
  method?: string;
  /** Exact path where `*` stands for one segment's characters and a trailing `*` for any rest, or a RegExp over the path (no query). */
  path?: string | RegExp;
  /** Query values that must be present with these values (names as sent, e.g. `$top`). */
  query?: Record<string, string>;
  /** Only requests inside a batch (true), only outer requests (false), or both (undefined). */
  inBatch?: boolean;
  /** Only requests of this kind (e.g. `value` for every `$value` download). */
  kind?: RequestKind;
}

/** What a matching request gets. */
export type FaultAction =
  | { error: GraphErrorName; retryAfter?: number | string }
  | { status: number; body?: string | object; headers?: Record<string, string>; retryAfter?: number | string }
  | { delayMs: number }
  | { chunkDelayMs: number }
  | { cutAfterBytes: number }
  | { hang: true };

/** A rule as added: match, action and how many more times it fires. */
export interface FaultRule {
  match: FaultMatch;
  action: FaultAction;
  /** Remaining hits; Infinity for always. */
  remaining: number;
  /** How many requests it has hit so far. */
  hits: number;
}

/** What a request is, for the log and for assertions. */
export type RequestKind =
  | 'identity' // OpenID discovery, keys, instance discovery
  | 'token'
  | 'authorize'
  | 'batch'
  | 'profile' // /me, /users/{id}, /mailboxSettings
  | 'folders'
  | 'messages' // message list
  | 'message' // one message
  | 'attachments' // attachment list
  | 'attachment' // one attachment's metadata (and contentBytes)
  | 'value' // an attachment's or message's $value
  | 'other';

/** One request as the fake saw it. */
export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  kind: RequestKind;
  /** Set on the requests inside a batch: the index of the outer request in the log. */
  batchOf?: number;
  /** On a batch: its inner requests, in the order they were given. */
  inner?: LoggedRequest[];
  /** Final HTTP status (the response's status for inner requests); 0 when cut or hung. */
  status: number;
  /** The `$batch` request id of an inner request. */
  batchId?: string;
}

/** The rule list of one server. */
export class Faults {
  private readonly rules: FaultRule[] = [];

  /**
   * Adds a rule.
   * @param times how many matching requests it hits (default 1; Infinity for all)
   * @returns the rule, whose `hits` a test can read
   */
  add(match: FaultMatch, action: FaultAction, times = 1): FaultRule {
    const rule: FaultRule = { match, action, remaining: times, hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  /** Removes every rule. */
  clear(): void {
    this.rules.length = 0;
  }

  /** The first live rule matching a request, consumed by one hit; undefined when none. */
  take(req: { method: string; path: string; query: Record<string, string>; inBatch: boolean; kind: RequestKind }): FaultAction | undefined {
    for (const rule of this.rules) {
      if (rule.remaining <= 0 || !matches(rule.match, req)) continue;
      rule.remaining--;
      rule.hits++;
      return rule.action;
    }
    return undefined;
  }
}

/** Classifies a request path for the log. */
export function requestKind(method: string, path: string): RequestKind {
  if (path.endsWith('/oauth2/v2.0/token')) return 'token';
  if (path.endsWith('/oauth2/v2.0/authorize')) return 'authorize';
  if (/\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|discovery\/instance)$/.test(path)) return 'identity';
  if (path === '/v1.0/$batch' && method === 'POST') return 'batch';
  const rest = path.replace(/^\/v1\.0\/(me|users\/[^/]+)/, '');
  if (rest === path) return 'other';
  if (rest === '' || rest === '/mailboxSettings') return 'profile';
  if (/\/\$value$/.test(rest)) return 'value';
  if (/\/attachments\/[^/]+$/.test(rest)) return 'attachment';
  if (/\/attachments$/.test(rest)) return 'attachments';
  if (/^(\/mailFolders\/[^/]+)?\/messages$/.test(rest)) return 'messages';
  if (/\/messages\/[^/]+$/.test(rest)) return 'message';
  if (/^\/mailFolders/.test(rest)) return 'folders';
  return 'other';
}

const globs = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  let re = globs.get(glob);
  if (!re) {
    const body = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*$/, '\u0000').replace(/\*/g, '[^/]*').replace('\u0000', '.*');
    re = new RegExp(`^${body}$`);
    globs.set(glob, re);
  }
  return re;
}

function matches(m: FaultMatch, req: { method: string; path: string; query: Record<string, string>; inBatch: boolean; kind: RequestKind }): boolean {
  if (m.method && m.method.toUpperCase() !== req.method) return false;
  if (m.kind && m.kind !== req.kind) return false;
  if (m.inBatch !== undefined && m.inBatch !== req.inBatch) return false;
  if (m.path instanceof RegExp) {
    if (!m.path.test(req.path)) return false;
  } else if (m.path !== undefined && !globToRegExp(m.path).test(req.path)) return false;
  for (const [k, v] of Object.entries(m.query ?? {})) if (req.query[k] !== v) return false;
  return true;
}
