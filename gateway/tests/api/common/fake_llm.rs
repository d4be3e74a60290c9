//! Fake LLM servers speaking the real wire formats, on one port: the kit's OpenAI-compatible server
//! (ibal_test_kit::fake_openai: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`) and Flowise 3.x
//! (`fake_flowise`), sharing one reply, one mode and one request count.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use ibal_test_kit::fake_openai::{self, FakeOpenAi, Pace};

pub use ibal_test_kit::fake_openai::{Mode, system_prompt};

use super::fake_flowise::{self, FlowiseState};

/// The model's state (tokens, mode, requests, embeddings) is the kit's; `llm.url`, `llm.requests`,
/// `llm.set_mode(…)` and the like reach it through `Deref`.
#[derive(Clone)]
pub struct FakeLlm {
    openai: FakeOpenAi,
    /// Flowise's side: flows, streams by chatId, memory, aborts and feedback.
    pub flowise: Arc<FlowiseState>,
}

impl Deref for FakeLlm {
    type Target = FakeOpenAi;

    fn deref(&self) -> &FakeOpenAi {
        &self.openai
    }
}

impl FromRef<FakeLlm> for FakeOpenAi {
    fn from_ref(fake: &FakeLlm) -> Self {
        fake.openai.clone()
    }
}

impl FakeLlm {
    pub async fn start() -> Self {
        Self::answering(&["Hello", "! ", "How ", "can ", "I ", "help?"]).await
    }

    /// A model whose every reply streams `tokens`, 5 ms apart.
    pub async fn answering(tokens: &[&str]) -> Self {
        let (openai, listener) = FakeOpenAi::bind(tokens.iter().copied(), Pace::default()).await.expect("bind");
        let fake = Self { openai, flowise: Arc::default() };
        let app = fake_openai::routes().merge(fake_flowise::routes()).with_state(fake.clone());
        tokio::spawn(fake_openai::serve(listener, app));
        fake
    }
}
