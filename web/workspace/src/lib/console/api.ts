/**
 * REST calls of api.md. Every failure becomes a `ConsoleError`: the server's typed
 * envelope when there is one, else a client-side code (network error, or an answer
 * that is not the envelope).
 */
import type { ApprovalAnswer } from '../protocol/ApprovalAnswer';
import type { ApprovalRequest } from '../protocol/ApprovalRequest';
import type { CancelAccepted } from '../protocol/CancelAccepted';
import type { CompanionInfo } from '../protocol/CompanionInfo';
import type { CreateWorker } from '../protocol/CreateWorker';
import type { WorkerDetail } from '../protocol/WorkerDetail';
import type { WorkerList } from '../protocol/WorkerList';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import type { ErrorEnvelope } from '../protocol/ErrorEnvelope';
import type { InputAccepted } from '../protocol/InputAccepted';
import type { InputRequest } from '../protocol/InputRequest';
import type { Transcript } from '../protocol/Transcript';
import type { SearchResults } from '../protocol/SearchResults';
import type { TranscriptWindow } from '../protocol/TranscriptWindow';
import type { UsageReport } from '../protocol/UsageReport';
import type { WorkerRef } from '../protocol/WorkerRef';
import { clientError, fromApiError, type ConsoleError } from './errors';
import { paths } from './urls';

export class ApiFailure extends Error {
  readonly error: ConsoleError;
  readonly status: number;
  constructor(error: ConsoleError, status: number) {
    super(`${error.code}: ${error.message}`);
    this.error = error;
    this.status = status;
  }
}

function isEnvelope(body: unknown): body is ErrorEnvelope {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const e = (body as { error: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string';
}

/** Turns any thrown value into a ConsoleError. */
export function toConsoleError(e: unknown): ConsoleError {
  if (e instanceof ApiFailure) return e.error;
  return clientError('network_error', e instanceof Error ? e.message : String(e));
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export class ApiClient {
  readonly #fetch: FetchLike;
  readonly #token: () => string | null;

  constructor(fetchImpl: FetchLike, token: () => string | null) {
    this.#fetch = fetchImpl;
    this.#token = token;
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = this.#token();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await this.#fetch(path, init);
    } catch (e) {
      throw new ApiFailure(clientError('network_error', e instanceof Error ? e.message : ''), 0);
    }
    let parsed: unknown = undefined;
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) {
      if (isEnvelope(parsed)) throw new ApiFailure(fromApiError(parsed.error), res.status);
      throw new ApiFailure(clientError('bad_response', `HTTP ${res.status}`), res.status);
    }
    if (parsed === undefined && res.status !== 204) {
      throw new ApiFailure(clientError('bad_response', 'not JSON'), res.status);
    }
    return parsed as T;
  }

  companion(): Promise<CompanionInfo> {
    return this.#request('GET', paths.companion());
  }

  createWorker(runtimeId: string, request: CreateWorker): Promise<WorkerDetail> {
    return this.#request('POST', paths.workers(runtimeId), request);
  }

  /** A page of a runtime's workers in the activity order, after `after`, whose names hold `q`. */
  workerPage(runtimeId: string, limit: number, after?: string, q?: string): Promise<WorkerList> {
    return this.#request('GET', paths.workerPage(runtimeId, limit, after, q));
  }

  renameWorker(ref: WorkerRef, displayName: string): Promise<WorkerSummary> {
    return this.#request('PATCH', paths.worker(ref), { display_name: displayName });
  }

  stopWorker(ref: WorkerRef): Promise<void> {
    return this.#request('DELETE', paths.worker(ref));
  }

  /** The newest `limit` messages, or with `before` the `limit` just older than that one. */
  transcript(ref: WorkerRef, limit?: number, before?: string): Promise<Transcript> {
    return this.#request('GET', paths.transcript(ref, limit, before));
  }

  input(ref: WorkerRef, request: InputRequest): Promise<InputAccepted> {
    return this.#request('POST', paths.input(ref), request);
  }

  cancel(ref: WorkerRef): Promise<CancelAccepted> {
    return this.#request('POST', paths.cancel(ref));
  }

  removeQueued(ref: WorkerRef, messageId: string): Promise<void> {
    return this.#request('DELETE', paths.queued(ref, messageId));
  }

  approve(ref: WorkerRef, callId: string, request: ApprovalRequest): Promise<ApprovalAnswer> {
    return this.#request('POST', paths.approval(ref, callId), request);
  }

  /** Usage of the runs that ended from `from` to `to` (UTC days), grouped `by`. */
  usage(from: string, to: string, by: string): Promise<UsageReport> {
    return this.#request('GET', paths.usage(from, to, by));
  }

  /** Messages of every runtime holding every word of `q`, best first. */
  search(q: string, after?: string): Promise<SearchResults> {
    return this.#request('GET', paths.search(q, after));
  }

  /** A page of a worker's history around, after or before one message. */
  transcriptAt(ref: WorkerRef, at: 'around' | 'after' | 'before', messageId: string, limit: number): Promise<TranscriptWindow> {
    return this.#request('GET', paths.transcriptAt(ref, at, messageId, limit));
  }
}
