//! Choosing and configuring the vision model from the environment, so every
//! entry point (Lambda functions, the local gateway) wires it the same way.

use std::sync::Arc;
use std::time::Duration;

use rag_core::ingest::visuals::VisualsConfig;
use rag_core::ports::VisionModel;

use crate::bedrock::{BedrockVision, BedrockVisionConfig};
use crate::openai::{OpenAiVision, OpenAiVisionConfig};
use crate::ConfigError;

/// `openai` or `bedrock`; unset means no vision model.
pub const VISION_PROVIDER: &str = "VISION_PROVIDER";
/// The model name (OpenAI) or model / inference-profile id (Bedrock).
pub const VISION_MODEL: &str = "VISION_MODEL";
/// OpenAI-compatible server root (default `https://api.openai.com`).
pub const VISION_API_BASE: &str = "VISION_API_BASE";
/// Bearer key of the OpenAI-compatible server, if it needs one.
pub const VISION_API_KEY: &str = "VISION_API_KEY";
/// Longest answer per image, in tokens.
pub const VISION_MAX_TOKENS: &str = "VISION_MAX_TOKENS";
/// Seconds per request attempt.
pub const VISION_TIMEOUT_SECS: &str = "VISION_TIMEOUT_SECS";
/// Most images transcribed per document.
pub const VISUALS_MAX_IMAGES: &str = "VISUALS_MAX_IMAGES";
/// Most transcriptions in flight at once.
pub const VISUALS_CONCURRENCY: &str = "VISUALS_CONCURRENCY";

/// Every variable [`vision_from_env`] reads, for deployment checks.
pub const VARIABLES: [&str; 8] = [
    VISION_PROVIDER,
    VISION_MODEL,
    VISION_API_BASE,
    VISION_API_KEY,
    VISION_MAX_TOKENS,
    VISION_TIMEOUT_SECS,
    VISUALS_MAX_IMAGES,
    VISUALS_CONCURRENCY,
];

/// A configured vision model and the visuals budget that goes with it.
#[derive(Clone)]
pub struct VisionSetup {
    /// The model behind the core's port.
    pub model: Arc<dyn VisionModel>,
    /// Per-document budget (`VISUALS_MAX_IMAGES`, `VISUALS_CONCURRENCY`).
    pub visuals: VisualsConfig,
}

impl std::fmt::Debug for VisionSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionSetup")
            .field("model", &self.model.model_id())
            .field("visuals", &self.visuals)
            .finish()
    }
}

/// The vision model the environment describes, or `None` when
/// `VISION_PROVIDER` is unset (the pipeline then keeps alt text only).
/// A set but unusable configuration is an error, so a deployment mistake
/// shows at start-up rather than as documents silently left untranscribed.
pub fn vision_from_env() -> Result<Option<VisionSetup>, ConfigError> {
    vision_from_lookup(|name| std::env::var(name).ok())
}

/// [`vision_from_env`] with the variables looked up by `get`, so it can be
/// tested without touching the process environment.
pub fn vision_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<VisionSetup>, ConfigError> {
    let var = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(provider) = var(VISION_PROVIDER) else {
        return Ok(None);
    };
    let model = var(VISION_MODEL).ok_or(ConfigError::Missing {
        name: VISION_MODEL,
        provider: provider.clone(),
    })?;
    let max_tokens = number(&var, VISION_MAX_TOKENS)?;
    let timeout = number(&var, VISION_TIMEOUT_SECS)?.map(|s| Duration::from_secs(u64::from(s)));

    let mut visuals = VisualsConfig::default();
    if let Some(n) = number(&var, VISUALS_MAX_IMAGES)? {
        visuals.max_images = n as usize;
    }
    if let Some(n) = number(&var, VISUALS_CONCURRENCY)? {
        visuals.concurrency = (n as usize).max(1);
    }

    let model: Arc<dyn VisionModel> = match provider.to_ascii_lowercase().as_str() {
        "openai" => {
            let mut config = OpenAiVisionConfig::new(model);
            if let Some(base) = var(VISION_API_BASE) {
                if !(base.starts_with("http://") || base.starts_with("https://")) {
                    return Err(ConfigError::InvalidVar {
                        name: VISION_API_BASE,
                        value: base,
                        reason: "must start with http:// or https://".into(),
                    });
                }
                config.base_url = base;
            }
            config.api_key = var(VISION_API_KEY).map(rag_http::ApiKey::new);
            if let Some(n) = max_tokens {
                config.max_tokens = n;
            }
            if let Some(t) = timeout {
                config.timeout = t;
            }
            Arc::new(OpenAiVision::new(config)?)
        }
        "bedrock" => {
            let mut config = BedrockVisionConfig::new(model);
            if let Some(n) = max_tokens {
                config.max_tokens = i32::try_from(n).unwrap_or(i32::MAX);
            }
            if let Some(t) = timeout {
                config.timeout = t;
            }
            Arc::new(BedrockVision::from_default_chain(config))
        }
        _ => {
            return Err(ConfigError::InvalidVar {
                name: VISION_PROVIDER,
                value: provider,
                reason: "must be 'openai' or 'bedrock'".into(),
            })
        }
    };
    Ok(Some(VisionSetup { model, visuals }))
}

/// A positive whole number, if set.
fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u32>, ConfigError> {
    var(name)
        .map(|v| match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::InvalidVar {
                name,
                value: v,
                reason: "must be a positive whole number".into(),
            }),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn unconfigured_means_no_model() {
        assert!(vision_from_lookup(lookup(&[]))
            .map(|s| s.is_none())
            .unwrap_or(false));
        assert!(vision_from_lookup(lookup(&[(VISION_PROVIDER, "  ")]))
            .map(|s| s.is_none())
            .unwrap_or(false));
    }

    #[test]
    fn openai_with_budget() {
        let setup = vision_from_lookup(lookup(&[
            (VISION_PROVIDER, "openai"),
            (VISION_MODEL, "gpt-4o-mini"),
            (VISION_API_BASE, "http://127.0.0.1:9/v1"),
            (VISUALS_MAX_IMAGES, "3"),
            (VISUALS_CONCURRENCY, "2"),
        ]))
        .ok()
        .flatten();
        let setup = setup.as_ref();
        assert_eq!(
            setup.map(|s| s.model.model_id()),
            Some("openai:gpt-4o-mini")
        );
        assert_eq!(
            setup.map(|s| (s.visuals.max_images, s.visuals.concurrency)),
            Some((3, 2))
        );
    }

    #[test]
    fn bedrock_is_built_without_loading_the_sdk_config() {
        let setup = vision_from_lookup(lookup(&[
            (VISION_PROVIDER, "bedrock"),
            (VISION_MODEL, "us.amazon.nova-lite-v1:0"),
        ]))
        .ok()
        .flatten();
        assert_eq!(
            setup.as_ref().map(|s| s.model.model_id()),
            Some("bedrock:us.amazon.nova-lite-v1:0")
        );
    }

    #[test]
    fn mistakes_are_errors() {
        let err = |pairs: &[(&str, &str)]| vision_from_lookup(lookup(pairs)).err();
        assert!(matches!(
            err(&[(VISION_PROVIDER, "openai")]),
            Some(ConfigError::Missing {
                name: VISION_MODEL,
                ..
            })
        ));
        assert!(matches!(
            err(&[(VISION_PROVIDER, "gemini"), (VISION_MODEL, "m")]),
            Some(ConfigError::InvalidVar {
                name: VISION_PROVIDER,
                ..
            })
        ));
        assert!(matches!(
            err(&[
                (VISION_PROVIDER, "openai"),
                (VISION_MODEL, "m"),
                (VISUALS_MAX_IMAGES, "ten")
            ]),
            Some(ConfigError::InvalidVar {
                name: VISUALS_MAX_IMAGES,
                ..
            })
        ));
        assert!(matches!(
            err(&[
                (VISION_PROVIDER, "openai"),
                (VISION_MODEL, "m"),
                (VISION_API_BASE, "ftp://x")
            ]),
            Some(ConfigError::InvalidVar {
                name: VISION_API_BASE,
                ..
            })
        ));
    }
}
