//! The policy of the host-side index proxy for `seal install`.

use std::time::Duration;

use anyhow::{anyhow, Result};

pub fn policy(allowed: &[(String, u16)]) -> Result<seal_net::ProxyPolicy> {
    Ok(seal_net::ProxyPolicy {
        allowed: allowed
            .iter()
            .map(|(h, p)| seal_net::AllowedHost::new(h, *p))
            .collect(),
        purpose: seal_net::Purpose::Index,
        watcher: None,
        // An upstream proxy that seal itself must use (HTTPS_PROXY in seal's own
        // environment): the index proxy chains through it instead of connecting directly.
        upstream: seal_net::Upstream::from_env().map_err(|e| anyhow!("HTTPS_PROXY: {e}"))?,
        connect_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
        max_connections: 64,
    })
}
