/**
 * The mail routes of the fake Graph under `/me` or `/users/{id | upn}`:
 *
 * | path | answer |
 * | --- | --- |
 * | `/mailFolders`, `/mailFolders/{id \| wellKnownName}` | folders (`inbox`, `sentitems`, ...) |
 * | `/messages`, `/mailFolders/{f}/messages` | a page of messages (`$select`, `$expand=attachments(...)`, `$filter`, `$orderby`, `$top`, `$skip`, `$skiptoken`, `$count`, `$search` as in `./search.ts`) |
 * | `/messages/{id}` | one message (`$select`, `$expand`) |
 * | `/messages/{id}/$value` | the message's MIME as stored |
 * | `/messages/{id}/attachments`, `/attachments/{aid}` | attachment metadata with `contentBytes` for files (`$select` narrows) |
 * | `/messages/{id}/attachments/{aid}/$value` | the bytes (file), regenerated MIME (item), 405 (reference) |
 *
 * Followed: https://learn.microsoft.com/en-us/graph/api/user-list-messages (default page 10,
 * `@odata.nextLink` absolute, `$count`), .../message-get, .../message-list-attachments,
 * .../attachment-get (`$value`, 405 for reference attachments), .../user-list-mailfolders,
 * https://learn.microsoft.com/en-us/graph/outlook-immutable-id (`Prefer: IdType="ImmutableId"`).
 */
import type { GraphCall, RouteResult, Target } from './api.ts';
import { GraphErrors, type GraphError } from './errors.ts';
import { findAttachment, type FakeGraphMailbox, type StoredMessage } from './mailbox.ts';
import {
  checkFilterOrder, compare, decodeSkipToken, encodeSkipToken, parseExpand, parseFilter, parseOrderBy, parseSelect, parseTop,
  type Comparison, type ExpandItem, type OrderKey,
} from './odata.ts';
import { MAX_SEARCH_RESULTS, parseSearch } from './search.ts';
import { attachmentSelectable, MESSAGE_PROPERTIES, messageIdOf, renderAttachment, renderFolder, renderMessage, type RenderOptions } from './resources.ts';

const DEFAULT_PAGE = 10;

/** Whether the call asked for immutable ids (`Prefer: IdType="ImmutableId"`, among other preferences). */
export function wantsImmutableIds(headers: Record<string, string>): boolean {
  return /(^|[,;]\s*)IdType\s*=\s*"?ImmutableId"?/i.test(headers.prefer ?? '');
}

/** Answers a mail route; `rest` is the path after the mailbox. */
export function mailRoute(target: Target, call: GraphCall, beta: boolean): RouteResult | GraphError {
  const o: RenderOptions = { immutable: wantsImmutableIds(call.headers), beta };
  const box = target.mailbox;
  const ctxRoot = `${call.serviceRoot}/$metadata#users('${box.user.id}')`;
  const preferenceHeaders: Record<string, string> = o.immutable ? { 'preference-applied': 'IdType="ImmutableId"' } : {};
  const [a, b, c, d, e, f] = target.rest;
  let rest = target.rest;

  if (a === 'mailFolders') {
    if (b === undefined) {
      const top = parseTop(call.query.get('$top'), DEFAULT_PAGE);
      if (typeof top !== 'number') return top;
      const offset = pageOffset(call.query);
      if (typeof offset !== 'number') return offset;
      const page = box.folders.slice(offset, offset + top).map((folder) => folderJson(box, folder.id));
      return { json: withNext({ '@odata.context': `${ctxRoot}/mailFolders`, value: page }, offset + top < box.folders.length, offset + top, call, target) };
    }
    const folder = box.folder(b);
    if (!folder) return GraphErrors.itemNotFound();
    if (c === undefined) return { json: { '@odata.context': `${ctxRoot}/mailFolders/$entity`, ...folderJson(box, folder.id) } };
    if (c !== 'messages') return GraphErrors.unknownSegment(c);
    if (d === undefined) return listMessages(box.folderMessages(folder.id), call, target, o, `${ctxRoot}/mailFolders('${folder.id}')/messages`, preferenceHeaders);
    rest = ['messages', d, ...(e === undefined ? [] : [e]), ...(f === undefined ? [] : [f]), ...target.rest.slice(6)];
  }

  const [r0, id, r2, aid, r4, ...more] = rest;
  if (r0 !== 'messages') return GraphErrors.unknownSegment(r0 ?? '');
  if (id === undefined) return listMessages(box.allMessages(), call, target, o, `${ctxRoot}/messages`, preferenceHeaders);
  const message = box.message(id);
  if (!message) return /^[A-Za-z0-9_=-]+$/.test(id) ? GraphErrors.itemNotFound() : GraphErrors.invalidId();
  if (r2 === undefined) return getMessage(message, call, o, `${ctxRoot}/messages/$entity`, preferenceHeaders);
  if (r2 === '$value' && aid === undefined) return { bytes: message.raw, contentType: 'message/rfc822' };
  if (r2 !== 'attachments') return GraphErrors.unknownSegment(r2);
  const select = parseSelect(call.query.get('$select'), attachmentSelectable(beta), 'microsoft.graph.attachment');
  if (select !== null && 'status' in select) return select;
  if (aid === undefined) {
    return {
      json: { '@odata.context': `${ctxRoot}/messages('${messageIdOf(message, o)}')/attachments`, value: message.attachments.map((att) => renderAttachment(att, message, select, o, true)) },
      headers: preferenceHeaders,
    };
  }
  const attachment = findAttachment(message, aid);
  if (!attachment) return GraphErrors.itemNotFound();
  if (r4 === undefined) {
    if (call.query.get('$expand') !== null) return GraphErrors.badRequest("The fake Graph server does not expand an item attachment's item.");
    return { json: { '@odata.context': `${ctxRoot}/messages('${messageIdOf(message, o)}')/attachments/$entity`, ...renderAttachment(attachment, message, select, o, true) }, headers: preferenceHeaders };
  }
  if (r4 !== '$value' || more.length > 0) return GraphErrors.unknownSegment(r4);
  if (attachment.type === 'reference') return GraphErrors.methodNotAllowed();
  if (attachment.type === 'item') return { bytes: attachment.mime, contentType: 'message/rfc822' };
  return { bytes: attachment.bytes, contentType: attachment.contentType };
}

function folderJson(box: FakeGraphMailbox, folderId: string): Record<string, unknown> {
  const messages = box.folderMessages(folderId);
  return renderFolder(box.folder(folderId)!, messages.length, messages.filter((m) => !m.isRead).length);
}

/** The offset of a page from `$skiptoken` (the fake's nextLinks) or `$skip`. */
function pageOffset(query: URLSearchParams): number | GraphError {
  const token = query.get('$skiptoken');
  if (token !== null) {
    const offset = decodeSkipToken(token);
    return offset ?? GraphErrors.badRequest('The $skiptoken is invalid.');
  }
  const skip = query.get('$skip');
  if (skip === null) return 0;
  if (!/^\d+$/.test(skip)) return GraphErrors.badRequest(`Invalid value '${skip}' for $skip query option found.`);
  return Number(skip);
}

/** Adds `@odata.nextLink` (absolute https, the same query with `$skiptoken`) when more remain. */
function withNext(body: Record<string, unknown>, more: boolean, next: number, call: GraphCall, target: Target): Record<string, unknown> {
  if (!more) return body;
  const params = new URLSearchParams(call.query);
  params.delete('$skip');
  params.delete('$skiptoken');
  params.set('$skiptoken', encodeSkipToken(next));
  const path = [target.base, ...target.rest].map(encodeURIComponent).join('/').replace(/%2F/g, '/').replace(/%24/g, '$');
  // Graph percent-encodes the `$` of query option names in its links.
  return { ...body, '@odata.nextLink': `${call.serviceRoot}/${path}?${params.toString().replace(/(^|&)\$/g, '$1%24')}` };
}

function filterValue(m: StoredMessage, property: string): string | boolean | number | null {
  switch (property) {
    case 'conversationId':
      return m.conversationId;
    case 'hasAttachments':
      return m.hasAttachments;
    case 'receivedDateTime':
    case 'createdDateTime':
    case 'lastModifiedDateTime':
      return Date.parse(m.receivedDateTime);
    case 'sentDateTime':
      return Date.parse(m.sentDateTime);
    case 'isRead':
      return m.isRead;
    case 'isDraft':
      return m.isDraft;
    case 'subject':
      return m.subject;
    case 'parentFolderId':
      return m.folderId;
    case 'internetMessageId':
      return m.internetMessageId;
    case 'importance':
      return 'normal';
    case 'from/emailAddress/address':
      return m.from?.address ?? null;
    case 'sender/emailAddress/address':
      return m.sender?.address ?? null;
    default:
      return null;
  }
}

function expandOptions(call: GraphCall, beta: boolean): { attachments: string[] | null } | null | GraphError {
  const items = parseExpand(call.query.get('$expand'));
  if ('status' in items) return items;
  let attachments: ExpandItem | undefined;
  for (const item of items) {
    if (item.property !== 'attachments') return GraphErrors.badRequest(`Could not find a property named '${item.property}' on type 'microsoft.graph.message'.`);
    attachments = item;
  }
  if (!attachments) return null;
  const select = parseSelect(attachments.select, attachmentSelectable(beta), 'microsoft.graph.attachment');
  if (select !== null && 'status' in select) return select;
  return { attachments: select };
}

function renderWithExpand(m: StoredMessage, select: string[] | null, expand: { attachments: string[] | null } | null, o: RenderOptions, webRoot: string): Record<string, unknown> {
  const json = renderMessage(m, select, o, webRoot);
  if (expand) json.attachments = m.attachments.map((a) => renderAttachment(a, m, expand.attachments, o, true));
  return json;
}

function getMessage(m: StoredMessage, call: GraphCall, o: RenderOptions, context: string, headers: Record<string, string>): RouteResult | GraphError {
  const select = parseSelect(call.query.get('$select'), MESSAGE_PROPERTIES, 'microsoft.graph.message');
  if (select !== null && 'status' in select) return select;
  const expand = expandOptions(call, o.beta);
  if (expand !== null && 'status' in expand) return expand;
  return { json: { '@odata.context': context, ...renderWithExpand(m, select, expand, o, new URL(call.serviceRoot).origin) }, headers };
}

function listMessages(source: readonly StoredMessage[], call: GraphCall, target: Target, o: RenderOptions, context: string, headers: Record<string, string>): RouteResult | GraphError {
  const q = call.query;
  const select = parseSelect(q.get('$select'), MESSAGE_PROPERTIES, 'microsoft.graph.message');
  if (select !== null && 'status' in select) return select;
  const expand = expandOptions(call, o.beta);
  if (expand !== null && 'status' in expand) return expand;
  let filter: Comparison[] = [];
  const rawFilter = q.get('$filter');
  if (rawFilter !== null) {
    const parsed = parseFilter(rawFilter);
    if ('status' in parsed) return parsed;
    filter = parsed;
  }
  let order: OrderKey[] = [];
  const rawOrder = q.get('$orderby');
  if (rawOrder !== null) {
    const parsed = parseOrderBy(rawOrder);
    if ('status' in parsed) return parsed;
    order = parsed;
  }
  const search = q.get('$search');
  if (search !== null && order.length > 0) return GraphErrors.badRequest("The query parameter '$orderBy' is not supported with '$search'.");
  if (search !== null && filter.length > 0) return GraphErrors.badRequest("The query parameter '$filter' is not supported with '$search'.");
  const inefficient = checkFilterOrder(filter, order);
  if (inefficient) return inefficient;
  const top = parseTop(q.get('$top'), DEFAULT_PAGE);
  if (typeof top !== 'number') return top;
  const offset = pageOffset(q);
  if (typeof offset !== 'number') return offset;

  let list = source.filter((m) => filter.every((c) => compare(filterValue(m, c.property), c)));
  if (search !== null) {
    const predicate = parseSearch(search);
    if (typeof predicate !== 'function') return predicate;
    list = list
      .filter(predicate)
      .sort((x, y) => (x.sentDateTime < y.sentDateTime ? 1 : x.sentDateTime > y.sentDateTime ? -1 : 0))
      .slice(0, MAX_SEARCH_RESULTS);
  }
  if (order.length > 0) {
    list = [...list].sort((x, y) => {
      for (const key of order) {
        const vx = filterValue(x, key.property);
        const vy = filterValue(y, key.property);
        if (vx === vy) continue;
        const less = vx === null || (vy !== null && vx < vy);
        return (less ? -1 : 1) * (key.descending ? -1 : 1);
      }
      return 0;
    });
  }
  const page = list.slice(offset, offset + top);
  const webRoot = new URL(call.serviceRoot).origin;
  const body: Record<string, unknown> = { '@odata.context': select ? `${context}(${select.join(',')})` : context };
  if (q.get('$count') === 'true') body['@odata.count'] = list.length;
  body.value = page.map((m) => renderWithExpand(m, select, expand, o, webRoot));
  return { json: withNext(body, offset + top < list.length, offset + top, call, target), headers };
}
