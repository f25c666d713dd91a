//! yoi-providers: the LLM services a Worker can talk to, behind
//! worker-runtime's [`Provider`] boundary.
//!
//! [`Providers`] is the factory a Runtime is started with: it builds the
//! provider that a [`ProviderConfig`]'s `kind` names. Today there is one
//! kind, any OpenAI-compatible chat completions endpoint ([`openai`]:
//! OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter), spoken to
//! through async-openai. A new kind is one module here and one arm in
//! [`Providers::provider`].
//!
//! ```text
//! Worker run task --ChatRequest--> Provider::stream --HTTP/SSE--> service
//!                 <--ProviderEvent (text, reasoning, usage, finished)--
//! ```

pub mod openai;

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
