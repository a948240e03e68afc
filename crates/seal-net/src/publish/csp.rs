//! The Content-Security-Policy a published port adds to every response.

/// A policy for pages served from `origins` (e.g. `http://127.0.0.1:8888`, `http://localhost:8888`)
/// that keeps JupyterLab working while its scripts can reach only the port itself.
///
/// It stops, towards any other origin (other sites and other localhost ports alike): fetch, XHR,
/// WebSocket, EventSource, beacons and `<a ping>`; loading images, media, fonts, scripts, styles
/// and workers; form posts; frames and plugins; and other sites framing the page. Browsers that
/// implement the `webrtc` directive also refuse peer connections, whose ICE/STUN traffic could
/// otherwise reach any host.
///
/// It names no report endpoint (`report-uri`, `report-to`): reports are not governed by CSP, so
/// an endpoint on another origin would receive the page's URL, which a script can fill with data,
/// every time the script causes a violation. The bridge also removes the server's own CSP and
/// reporting headers (`Content-Security-Policy`, `Content-Security-Policy-Report-Only`,
/// `Report-To`, `Reporting-Endpoints`, `NEL`), so violation, COOP/COEP, Permissions-Policy,
/// Document-Policy and network-error reports have nowhere to go; a policy in a page's
/// `<meta http-equiv>` cannot name a report endpoint (browsers ignore the directives there).
///
/// It does not stop: top-level navigation, `window.open` and links the user clicks (a script can
/// put data in the URL it navigates to); DNS prefetch and preconnect hints in browsers that do not
/// apply CSP to them; WebRTC in browsers without the `webrtc` directive; and whatever the user
/// copies out by hand. Inline scripts and `eval` stay allowed because notebooks and their outputs
/// need them; they can still only talk to the port.
///
/// Origins that are not plain `http://host[:port]` or `https://host[:port]` are left out rather
/// than let into the header.
pub fn default_csp(origins: &[String]) -> String {
    let mut connect = vec!["'self'".to_string()];
    // 'self' covers the page's own ws:// origin only in CSP3 browsers; older ones need it spelled out.
    for ws in origins.iter().filter_map(|o| websocket_origin(o)) {
        if !connect.contains(&ws) {
            connect.push(ws);
        }
    }
    format!(
        "default-src 'self'; connect-src {}; img-src 'self' data: blob:; media-src 'self' data: blob:; \
         font-src 'self' data:; style-src 'self' 'unsafe-inline'; \
         script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; worker-src 'self' blob:; \
         frame-src 'self' blob: data:; child-src 'self' blob: data:; form-action 'self'; \
         base-uri 'self'; object-src 'none'; frame-ancestors 'self'; webrtc 'block'",
        connect.join(" ")
    )
}

/// Whether `policy` (one header value, possibly several policies joined by `,`) has a
/// `report-uri` or `report-to` directive. Directive names are matched as browsers do: the first
/// token of each `;`-separated part, ASCII case-insensitively.
pub(crate) fn names_report_endpoint(policy: &str) -> bool {
    policy
        .split([';', ','])
        .filter_map(|d| d.split_ascii_whitespace().next())
        .any(|name| {
            name.eq_ignore_ascii_case("report-uri") || name.eq_ignore_ascii_case("report-to")
        })
}

fn websocket_origin(origin: &str) -> Option<String> {
    let lower = origin.to_ascii_lowercase();
    let (scheme, authority) = if let Some(rest) = lower.strip_prefix("http://") {
        ("ws://", rest)
    } else if let Some(rest) = lower.strip_prefix("https://") {
        ("wss://", rest)
    } else {
        return None;
    };
    // Anything else (spaces, ';', ',', quotes, a path) would change the policy's meaning.
    let plain = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    plain.then(|| format!("{scheme}{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jupyter_policy_for_both_loopback_names() {
        let csp = default_csp(&[
            "http://127.0.0.1:8888".into(),
            "http://localhost:8888".into(),
        ]);
        assert!(csp.starts_with(
            "default-src 'self'; connect-src 'self' ws://127.0.0.1:8888 ws://localhost:8888; img-src"
        ));
        for d in [
            "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:;",
            "worker-src 'self' blob:;",
            "form-action 'self';",
            "object-src 'none';",
            "frame-ancestors 'self';",
        ] {
            assert!(csp.contains(d), "{d} missing from {csp}");
        }
        assert!(!csp.contains("  "));
        assert!(http::HeaderValue::from_str(&csp).is_ok());
        assert!(!csp.contains("report"), "{csp}");
        assert!(!names_report_endpoint(&csp));
    }

    #[test]
    fn report_directives_are_found() {
        for p in [
            "default-src 'self'; report-uri http://127.0.0.1:9999/r",
            "report-to x",
            "img-src 'none';REPORT-URI /r",
            "default-src 'self', Report-To\tg",
            "default-src 'self';  report-uri",
        ] {
            assert!(names_report_endpoint(p), "{p}");
        }
        for p in [
            "default-src 'self'",
            "img-src http://report-uri.example",
            "default-src 'self'; x-report-uri /r",
            "",
        ] {
            assert!(!names_report_endpoint(p), "{p}");
        }
    }

    #[test]
    fn odd_origins_are_left_out() {
        let csp = default_csp(&[
            "HTTPS://Example.test".into(),
            "http://127.0.0.1:1; script-src *".into(),
            "ftp://x".into(),
            "http://".into(),
            "https://example.test".into(),
        ]);
        assert!(csp.contains("connect-src 'self' wss://example.test; img-src"));
        assert!(!csp.contains('*'));
    }
}
