/**
 * The Graph routes of the fake under `/v1.0`: who may call (bearer checks), which mailbox a path
 * names (`/me` or `/users/{id | userPrincipalName}`), and the user profile. The mail routes are in
 * `./mail-routes.ts`.
 *
 * Followed: https://learn.microsoft.com/en-us/graph/api/user-get (`/me` and `/users/{id | upn}`,
 * the default properties), https://learn.microsoft.com/en-us/graph/auth-v2-service (an application
 * token reads `/users/{id}` only; `/me` needs a delegated token), and Exchange's application access
 * policies (an app granted `Mail.Read` for some mailboxes gets `ErrorAccessDenied` on the others).
 */
import { GraphErrors, type GraphError } from './errors.ts';
import { GRAPH_RESOURCE, MAIL_READ_SCOPES, type IdentityPlatform, type Principal } from './identity.ts';
import type { FakeGraphMailbox } from './mailbox.ts';

/** One Graph call (outer or inside `$batch`), path without `/v1.0`. */
export interface GraphCall {
  method: string;
  /** Path after `/v1.0`, percent-decoded per segment, e.g. `/me/messages/AAMk…/attachments`. */
  segments: string[];
  query: URLSearchParams;
  headers: Record<string, string>;
  /** `https://127.0.0.1:PORT/v1.0` (for `@odata.context` and `@odata.nextLink`). */
  serviceRoot: string;
}

/** A successful answer of a route: JSON, or raw bytes with their content type. */
export type RouteResult = { status?: number; json: object; headers?: Record<string, string> } | { status?: number; bytes: Buffer; contentType: string; headers?: Record<string, string> };

/** What the routes need from the server. */
export interface ApiContext {
  identity: IdentityPlatform;
  mailboxOf(userId: string): FakeGraphMailbox | undefined;
}

/** The mailbox a call reaches and the rest of its path. */
export interface Target {
  mailbox: FakeGraphMailbox;
  /** `/me` or `/users/{segment as given}`: the prefix of `@odata.context` and links. */
  base: string;
  rest: string[];
  principal: Principal;
}

/**
 * Resolves the caller and the mailbox of a call.
 * @returns the target, or the Graph error to answer
 */
export function resolveTarget(call: GraphCall, ctx: ApiContext): Target | GraphError {
  const principal = ctx.identity.authenticate(call.headers.authorization);
  if ('status' in principal) return principal;
  const [head, second, ...tail] = call.segments;
  if (head === 'me') {
    if (principal.kind !== 'delegated') return GraphErrors.meWithAppToken();
    const mailbox = ctx.mailboxOf(principal.userId);
    if (!mailbox) return GraphErrors.invalidUser(principal.userId);
    return { mailbox, base: 'me', rest: second === undefined ? [] : [second, ...tail], principal };
  }
  if (head === 'users' && second !== undefined) {
    const user = ctx.identity.user(second);
    if (!user) return GraphErrors.invalidUser(second);
    const mailbox = ctx.mailboxOf(user.id);
    if (!mailbox) return GraphErrors.invalidUser(second);
    if (principal.kind === 'delegated' && principal.userId !== user.id) return GraphErrors.accessDenied();
    if (principal.kind === 'application') {
      const app = ctx.identity.apps.get(principal.clientId);
      if (!app?.appGrants.has(user.id)) return GraphErrors.accessDenied();
    }
    return { mailbox, base: `users/${second}`, rest: tail, principal };
  }
  return GraphErrors.unknownSegment(head ?? '');
}

/** Whether the caller may read mail (a delegated token needs a Mail.Read scope; an app, the role). */
export function mayReadMail(principal: Principal): boolean {
  if (principal.kind === 'application') return principal.roles.includes('Mail.Read');
  const scopes = new Set(principal.scopes.map((s) => s.toLowerCase()));
  return MAIL_READ_SCOPES.some((s) => scopes.has(s.toLowerCase()));
}

/** `GET /me`, `GET /users/{id | upn}`: the user's default properties. */
export function userProfile(target: Target, call: GraphCall): RouteResult {
  const u = target.mailbox.user;
  const [given, ...family] = u.displayName.split(' ');
  return {
    json: {
      '@odata.context': `${call.serviceRoot}/$metadata#users/$entity`,
      businessPhones: [],
      displayName: u.displayName,
      givenName: given ?? null,
      jobTitle: null,
      mail: u.userPrincipalName,
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: 'en-US',
      surname: family.join(' ') || null,
      userPrincipalName: u.userPrincipalName,
      id: u.id,
    },
  };
}

/**
 * `GET /me/mailboxSettings`, `/users/{id}/mailboxSettings`
 * (https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings): needs
 * `MailboxSettings.Read` or `.ReadWrite` (delegated scope or application role); Mail.Read alone is
 * a 403 `ErrorAccessDenied`, as on Graph.
 */
export function mailboxSettings(target: Target, call: GraphCall): RouteResult | GraphError {
  const p = target.principal;
  const granted = p.kind === 'application' ? p.roles : p.scopes.map((s) => s.slice(GRAPH_RESOURCE.length + 1));
  if (!granted.some((s) => /^MailboxSettings\.Read(Write)?$/i.test(s))) return GraphErrors.accessDenied();
  return {
    json: {
      '@odata.context': `${call.serviceRoot}/$metadata#users('${target.mailbox.user.id}')/mailboxSettings`,
      archiveFolder: null,
      timeZone: 'UTC',
      automaticRepliesSetting: { status: 'disabled', externalAudience: 'none', internalReplyMessage: '', externalReplyMessage: '' },
      dateFormat: 'yyyy-MM-dd',
      timeFormat: 'HH:mm',
      delegateMeetingMessageDeliveryOptions: 'sendToDelegateOnly',
      userPurpose: 'user',
      language: { locale: 'en-US', displayName: 'English (United States)' },
      workingHours: { daysOfWeek: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'], startTime: '08:00:00.0000000', endTime: '17:00:00.0000000', timeZone: { name: 'UTC' } },
    },
  };
}
