/**
 * The results of `MailProvider.loadMessages` / `loadConversations` for tests that expect every key
 * to load: a per-key error (the contract allows one in a key's slot) is thrown instead.
 */
export function loaded<R>(results: readonly R[]): Exclude<R, Error>[] {
  for (const result of results) if (result instanceof Error) throw result;
  return results as Exclude<R, Error>[];
}
