//! The policy of the host-side index proxy for `seal install`.

use std::time::Duration;

use anyhow::{anyhow, Result};

/// An upstream proxy that seal itself must use (HTTPS_PROXY in seal's own environment): the
/// index proxy chains through it instead of connecting directly.
fn upstream_from_env() -> Result<Option<seal_net::Upstream>> {
    let Some(url) = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    else {
        return Ok(None);
    };
    seal_net::Upstream::from_url(&url)
        .map(Some)
        .map_err(|e| anyhow!("HTTPS_PROXY: {e}"))
}

pub fn policy(allowed: &[(String, u16)]) -> Result<seal_net::Policy> {
    Ok(seal_net::Policy {
        allowed: allowed
            .iter()
            .map(|(h, p)| seal_net::AllowedHost::new(h, *p))
            .collect(),
        upstream: upstream_from_env()?,
        connect_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
        max_connections: 64,
    })
}
