/** The notices above the transcript: their shape, and the ones built from server facts. */
import type { ProviderInfo } from '../protocol/ProviderInfo';
import { describeError, sentence, type ConsoleError } from '../console/errors';

export interface Notice {
  id: string;
  tone: 'error' | 'warn' | 'info';
  title: string;
  detail?: string;
  /** Present when the person may dismiss it. */
  dismiss?: () => void;
}

const GENERIC_PROVIDER_HINT =
  'Give yoi serve an API key (OPENAI_API_KEY by default) or a local OpenAI-compatible base URL (OPENAI_BASE_URL), then restart it. Sending now will say exactly what is missing.';

/**
 * The warning shown while the Companion has no provider: the server's own hint
 * (what to set, under the names this server uses) when it gave one.
 */
export function providerNotice(provider: ProviderInfo): Notice | null {
  if (provider.configured) return null;
  const hint = provider.hint?.trim();
  return {
    id: 'provider',
    tone: 'warn',
    title: 'No model provider is configured, so the Companion cannot answer yet.',
    detail: hint ? sentence(hint) : GENERIC_PROVIDER_HINT,
  };
}

/** An error in plain words, as a notice. */
export function errorNotice(id: string, error: ConsoleError, dismiss?: () => void): Notice {
  const words = describeError(error);
  const notice: Notice = { id, tone: 'error', title: words.title, detail: words.detail };
  if (dismiss) notice.dismiss = dismiss;
  return notice;
}

/**
 * A failed send. When it failed for want of a provider and the provider notice
 * already says what to set, it does not say it twice.
 */
export function sendErrorNotice(error: ConsoleError, providerShown: boolean, dismiss: () => void): Notice {
  const notice = errorNotice('send', error, dismiss);
  if (error.code === 'provider_unconfigured' && providerShown) {
    notice.detail = 'Nothing was sent; your message is still in the box. What to set is said above.';
  }
  return notice;
}
