//! yoi-providers: the LLM services a Worker can talk to, behind
//! worker-runtime's [`Provider`] boundary.
//!
//! [`Providers`] is the factory a Runtime is started with: it builds the
//! provider that a [`ProviderConfig`]'s `kind` names. Today there is one
//! kind, any OpenAI-compatible chat completions endpoint ([`openai`]:
//! OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter), spoken to
//! over reqwest. A new kind is one module here and one arm in
//! [`Providers::provider`].
//!
//! ```text
//! Worker run task --ChatRequest--> Provider::stream --HTTP/SSE--> service
//!                 <--ProviderEvent (text, reasoning, usage, finished)--
//!                    (sse: bounded lines; redact: what of a provider's
//!                     words reaches clients and the log)
//! ```
//!
//! Everything a provider sends is bounded: a line or event of its stream
//! ([`openai::MAX_EVENT_BYTES`]), the part of an error body that is read
//! ([`openai::MAX_ERROR_BODY_BYTES`]) and the part of its message that is
//! passed on ([`redact::MESSAGE_LIMIT`], with the API key masked). Chunks
//! that do not parse are described by where they broke, never quoted.

pub mod openai;
pub mod redact;
pub mod sse;

use std::sync::Arc;

use worker_runtime::config::{ProviderConfig, ProviderKind};
use worker_runtime::provider::{Provider, ProviderFactory};

/// Builds providers from their configuration.
#[derive(Debug, Default, Clone, Copy)]
pub struct Providers;

impl Providers {
    /// The factory, ready to hand to `Runtime::start`.
    pub fn shared() -> Arc<dyn ProviderFactory> {
        Arc::new(Providers)
    }
}

impl ProviderFactory for Providers {
    fn provider(&self, config: &ProviderConfig) -> Arc<dyn Provider> {
        match config.kind {
            ProviderKind::OpenAiCompatible => Arc::new(openai::OpenAiProvider::new(config.clone())),
        }
    }
}
