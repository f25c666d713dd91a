/**
 * Every error the console can meet, in plain words. Server errors come with the
 * contract's stable `code`; a few more are the browser's own (the connection).
 */
import type { ApiError } from '../protocol/ApiError';
import type { ErrorCode } from '../protocol/ErrorCode';

/** Failures that never reach the server, or whose answer was not the envelope. */
export type ClientErrorCode = 'connection_lost' | 'network_error' | 'bad_response';

export interface ConsoleError {
  code: ErrorCode | ClientErrorCode;
  /** The server's (or the browser's) own message. */
  message: string;
  retryable: boolean;
  /** Whether the server answered with a typed envelope (the outcome is known). */
  typed: boolean;
}

export function fromApiError(error: ApiError): ConsoleError {
  return { code: error.code, message: error.message, retryable: error.retryable, typed: true };
}

export function clientError(code: ClientErrorCode, message = ''): ConsoleError {
  return { code, message, retryable: true, typed: false };
}

export interface ErrorWords {
  /** One short sentence for a person. */
  title: string;
  /** More detail: the provider's message, what to set, or nothing. */
  detail: string;
}

/** A server's message as a sentence: trimmed, first letter capitalised. */
export function sentence(text: string): string {
  const t = text.trim();
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/** Plain words for an error of the contract or of the browser. */
export function describeError(error: Pick<ConsoleError, 'code' | 'message'>): ErrorWords {
  // The server's own message (for a provider error: the provider's message only,
  // e.g. "the provider answered 500: …"), shown as the detail.
  const said = sentence(error.message);
  switch (error.code) {
    case 'busy':
      return { title: 'The worker is still answering.', detail: 'Wait for the answer to finish, or stop it first.' };
    case 'provider_error':
      return {
        title: 'The model provider answered with an error.',
        detail: said,
      };
    case 'timeout':
      return { title: 'The model provider did not answer in time.', detail: said };
    case 'profile_missing':
      return { title: 'This conversation cannot take input: its profile is gone.', detail: said };
    case 'provider_unconfigured':
      return {
        title: 'No model provider is configured.',
        detail: said || 'Set the provider’s API key (or base URL) in the environment of yoi serve and restart it.',
      };
    case 'runtime_unavailable':
      return { title: 'The runtime that hosts this worker cannot be reached right now.', detail: said };
    case 'connection_lost':
      return { title: 'Connection to the yoi server lost.', detail: said || 'Reconnecting on its own…' };
    case 'network_error':
      return { title: 'Could not reach the yoi server.', detail: said || 'Is yoi serve running?' };
    case 'bad_response':
      return { title: 'The server gave an answer the console does not understand.', detail: said };
    case 'unauthorized':
      return {
        title: 'This server needs an access token.',
        detail: 'Open the console with ?token=<your token> at the end of its address.',
      };
    case 'forbidden_origin':
      return { title: 'The server refused this page’s address (Origin or Host).', detail: said };
    case 'invalid_input':
      return { title: 'The server could not accept that.', detail: said };
    case 'payload_too_large':
      return { title: 'That message is too long for the server.', detail: said };
    case 'runtime_not_found':
      return { title: 'That runtime does not exist (any more).', detail: said };
    case 'worker_not_found':
      return { title: 'That worker does not exist (any more).', detail: said };
    case 'queue_full':
      return {
        title: 'The queue is full.',
        detail: 'Wait for an answer to finish, or remove a queued message first.',
      };
    case 'not_running':
      return { title: 'Nothing to stop: no answer is in progress.', detail: '' };
    case 'unsupported':
      return { title: 'This runtime cannot do that.', detail: said };
    case 'internal':
      return { title: 'The server hit an internal error.', detail: said };
    default:
      return { title: 'Something went wrong.', detail: said };
  }
}
