/**
 * Scripted faults and the request log of the fake Gmail server.
 *
 * A fault rule matches requests (outer HTTP requests and the calls inside a batch) by method, path
 * (string: exact path where `*` stands for one segment and a trailing `*` for any rest; or RegExp) and query values, for a number of hits,
 * and then does one thing: answer an error (a {@link GmailErrors} preset or any status and body,
 * with `Retry-After`), delay the real answer, cut the answer's body after K bytes (the socket is
 * destroyed: the client sees a body shorter than its Content-Length), or hang (never answer
 * until the client gives up). Inside a batch an error becomes that part's status; a delay, cut or
 * hang applies to the batch response at that part.
 */
import type { GmailErrorName } from './errors.ts';

/** Which requests a rule applies to. */
export interface FaultMatch {
  method?: string;
  /** Exact path where `*` stands for one segment's characters and a trailing `*` for any rest, or a RegExp over the path (no query). */
  path?: string | RegExp;
  /** Query values that must be present with these values. */
  query?: Record<string, string>;
  /** Only calls inside a batch (true), only outer requests (false), or both (undefined). */
  inBatch?: boolean;
}

/** What a matching request gets. */
export type FaultAction =
  | { error: GmailErrorName; retryAfter?: number | string }
  | { status: number; body?: string | object; headers?: Record<string, string>; retryAfter?: number | string }
  | { delayMs: number }
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

/** One request as the fake saw it. */
export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Set on the inner calls of a batch: the index of the outer request in the log. */
  batchOf?: number;
  /** On a batch request: its inner calls, in order. */
  inner?: LoggedRequest[];
  /** Final HTTP status (the part's status for inner calls); 0 when cut or hung. */
  status: number;
  /** Outer requests: whether the answer was gzip-compressed. */
  gzip?: boolean;
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
  take(req: { method: string; path: string; query: Record<string, string>; inBatch: boolean }): FaultAction | undefined {
    for (const rule of this.rules) {
      if (rule.remaining <= 0 || !matches(rule.match, req)) continue;
      rule.remaining--;
      rule.hits++;
      return rule.action;
    }
    return undefined;
  }
}

const globs = new Map<string, RegExp>();

/** `*` inside a path stands for one segment's characters; a trailing `*` for any rest. */
function globToRegExp(glob: string): RegExp {
  let re = globs.get(glob);
  if (!re) {
    const body = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*$/, '\u0000').replace(/\*/g, '[^/]*').replace('\u0000', '.*');
    re = new RegExp(`^${body}$`);
    globs.set(glob, re);
  }
  return re;
}

function matches(m: FaultMatch, req: { method: string; path: string; query: Record<string, string>; inBatch: boolean }): boolean {
  if (m.method && m.method.toUpperCase() !== req.method) return false;
  if (m.inBatch !== undefined && m.inBatch !== req.inBatch) return false;
  if (m.path instanceof RegExp) {
    if (!m.path.test(req.path)) return false;
  } else if (m.path !== undefined) {
    if (!globToRegExp(m.path).test(req.path)) return false;
  }
  for (const [k, v] of Object.entries(m.query ?? {})) if (req.query[k] !== v) return false;
  return true;
}
