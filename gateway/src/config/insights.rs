//! The course team's dashboard: what it may show of learners, and what a token costs.

use super::vars::{ConfigError, Vars};

#[derive(Debug, Clone, Default)]
pub struct InsightsConfig {
    /// Learners by username rather than a pseudonym (`INSIGHTS_SHOW_NAMES`, default off).
    pub show_names: bool,
    /// Message texts in the dashboard's exports (`INSIGHTS_TRANSCRIPTS`, default off: aggregates and
    /// the lowest-rated replies only).
    pub transcripts: bool,
    /// The price of 1,000 tokens, for the estimated cost (`INSIGHTS_PRICE_PER_1K_TOKENS`; 0: none shown).
    pub price_per_1k_tokens: f64,
}

pub(super) fn insights_config(vars: &Vars) -> Result<InsightsConfig, ConfigError> {
    let price: f64 = vars.parse("INSIGHTS_PRICE_PER_1K_TOKENS", 0.0, "a price (a number, 0 or more)")?;
    if !price.is_finite() || price < 0.0 {
        return Err(ConfigError::new("INSIGHTS_PRICE_PER_1K_TOKENS", "expected a price (a number, 0 or more)"));
    }
    Ok(InsightsConfig {
        show_names: vars.bool("INSIGHTS_SHOW_NAMES", false)?,
        transcripts: vars.bool("INSIGHTS_TRANSCRIPTS", false)?,
        price_per_1k_tokens: price,
    })
}
