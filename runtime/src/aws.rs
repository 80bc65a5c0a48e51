//! The AWS SDK's settings, loaded once per process on first use and shared by every
//! client built from them, and clients built on first use. A function whose routes
//! never talk to AWS (SQLite locally, or a route that calls no model) never loads
//! them: start-up stays at reading the environment.

use aws_config::SdkConfig;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The process's AWS settings (`AWS_REGION`, `AWS_ENDPOINT_URL`, service-specific
/// endpoints such as `AWS_ENDPOINT_URL_LAMBDA`, credentials…), loaded on the first
/// `config` call. Clones share one copy.
#[derive(Clone, Default)]
pub struct SharedAws(Arc<OnceCell<SdkConfig>>);

impl SharedAws {
    /// Settings read from the environment when first needed.
    pub fn from_env() -> Self {
        Self::default()
    }

    /// Settings given up front (tests point them at a local endpoint).
    pub fn with(config: SdkConfig) -> Self {
        Self(Arc::new(OnceCell::new_with(Some(config))))
    }

    pub async fn config(&self) -> &SdkConfig {
        self.0
            .get_or_init(|| aws_config::defaults(aws_config::BehaviorVersion::latest()).load())
            .await
    }

    /// Whether the settings have been loaded (or given).
    pub fn is_loaded(&self) -> bool {
        self.0.initialized()
    }
}

/// An AWS client built from the shared settings on its first use.
pub struct LazyClient<C> {
    aws: SharedAws,
    build: fn(&SdkConfig) -> C,
    client: OnceCell<C>,
}

impl<C> LazyClient<C> {
    /// A client `build` makes from `aws` when it is first asked for.
    pub fn new(aws: SharedAws, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            aws,
            build,
            client: OnceCell::new(),
        }
    }

    /// A client built already.
    pub fn ready(client: C) -> Self {
        Self {
            aws: SharedAws::default(),
            build: |_| unreachable!("a ready client is never built"),
            client: OnceCell::new_with(Some(client)),
        }
    }

    pub async fn get(&self) -> &C {
        self.client
            .get_or_init(|| async { (self.build)(self.aws.config().await) })
            .await
    }

    /// Whether the client has been built.
    pub fn is_built(&self) -> bool {
        self.client.initialized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SdkConfig {
        SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[tokio::test]
    async fn a_client_is_built_once_on_first_use_from_settings_shared_by_clones() {
        let aws = SharedAws::default();
        let clients = LazyClient::new(aws.clone(), |config| config.region().map(|r| r.to_string()));
        assert!(
            !clients.is_built() && !aws.is_loaded(),
            "nothing is built or loaded up front"
        );
        let given = SharedAws::with(local());
        assert!(given.is_loaded());
        let lazy = LazyClient::new(given.clone(), |config| config.region().map(|r| r.to_string()));
        assert!(!lazy.is_built());
        assert_eq!(lazy.get().await.as_deref(), Some("us-east-1"));
        assert!(lazy.is_built());
        let first: *const Option<String> = lazy.get().await;
        assert!(std::ptr::eq(first, lazy.get().await), "built once");
        assert!(LazyClient::ready(7).is_built());
        assert_eq!(*LazyClient::ready(7).get().await, 7);
    }
}
