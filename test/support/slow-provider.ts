/**
 * A MailProvider whose every read takes `delayMs`, recording each call: when it started, the
 * `CallOptions.signal` it got, and when that signal aborted (and with what reason). With
 * `honourSignal` it rejects with the signal's reason as soon as it aborts (as a provider should);
 * without, it finishes its wait regardless (a provider that ignores the signal), so a test can
 * tell the gateway's own stopping from the provider's.
 */
import { Readable } from 'node:stream';
import type { ConversationInfo, MessageInfo } from '../../src/domain/mail.ts';
import type { CallOptions, MailProvider } from '../../src/providers/types.ts';

/** One recorded provider call. */
export interface SlowCall {
  method: 'listConversations' | 'loadConversations' | 'loadMessages' | 'openAttachment';
  /** `performance.now()` when the call started. */
  startedAt: number;
  signal: AbortSignal | undefined;
  /** `performance.now()` when its signal aborted, if it did. */
  abortedAt: number | null;
  reason: unknown;
}

/** The slow provider and its record. */
export interface SlowProvider extends MailProvider {
  calls: SlowCall[];
}

/** A provider over `conversations` conversations of two messages each; every read waits `delayMs`. */
export function createSlowProvider(options: { delayMs: number; honourSignal: boolean; conversations?: number }): SlowProvider {
  const count = options.conversations ?? 5;
  const conversation = (i: number): ConversationInfo => ({
    key: `c${i}`,
    subject: `Conversation ${i}`,
    participants: [],
    lastMessageAt: new Date(Date.UTC(2024, 0, 1 + i)),
    messageKeys: [`c${i}-a`, `c${i}-b`],
    hasAttachments: false,
  });
  const message = (key: string): MessageInfo => ({
    key,
    conversationKey: key.split('-')[0]!,
    subject: `Message ${key}`,
    from: null,
    to: [],
    cc: [],
    date: new Date(Date.UTC(2024, 0, 1)),
    messageId: `<${key}@example.org>`,
    inReplyTo: null,
    references: [],
    direction: 'RECEIVED',
    attachments: [],
    attachmentCount: 0,
    attachmentsTruncated: false,
  });

  const calls: SlowCall[] = [];
  async function wait(method: SlowCall['method'], callOptions: CallOptions | undefined): Promise<void> {
    const signal = callOptions?.signal;
    const call: SlowCall = { method, startedAt: performance.now(), signal, abortedAt: null, reason: undefined };
    calls.push(call);
    const record = () => {
      call.abortedAt = performance.now();
      call.reason = signal?.reason;
    };
    if (signal?.aborted) record();
    else signal?.addEventListener('abort', record, { once: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, options.delayMs);
      if (options.honourSignal && signal) {
        const stop = () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
      }
    });
  }

  return {
    kind: 'LOCAL',
    calls,
    async listConversations(args, callOptions) {
      await wait('listConversations', callOptions);
      const items = Array.from({ length: Math.min(count, args.first) }, (_, i) => conversation(i));
      return { items, endCursor: null, hasNextPage: false };
    },
    async loadConversations(keys, callOptions) {
      await wait('loadConversations', callOptions);
      return keys.map((k) => (/^c\d+$/.test(k) ? conversation(Number(k.slice(1))) : null));
    },
    async loadMessages(keys, callOptions) {
      await wait('loadMessages', callOptions);
      return keys.map((k) => message(k));
    },
    async openAttachment(_messageKey, _partId, callOptions) {
      await wait('openAttachment', callOptions);
      return { stream: Readable.from([Buffer.from('x')]), size: 1, contentType: 'text/plain', filename: 'x.txt' };
    },
    async close() {},
  };
}
