/**
 * The whole conversation for an export: every page of the worker's history
 * from the server (`transcript?before=`), not only what the console has
 * loaded. Pages are read newest first and returned oldest first.
 */
import type { Message } from '../protocol/Message';
import type { Transcript } from '../protocol/Transcript';

/** Messages asked for per page (the server's most). */
export const EXPORT_PAGE = 1000;

export async function wholeConversation(
  page: (before: string | undefined) => Promise<Transcript>,
): Promise<Message[]> {
  const pages: Message[][] = [];
  let before: string | undefined;
  for (;;) {
    const got = await page(before);
    pages.push(got.messages);
    const first = got.messages[0];
    // A page without messages (or the last one) ends the history.
    if (!got.truncated || !first || first.id === before) break;
    before = first.id;
  }
  return pages.reverse().flat();
}
