//! Just enough TLS parsing to read the SNI of a ClientHello, so a tunnel to an allowed host cannot be
//! used to reach another name on the same front (domain fronting at the TLS layer).

/// What the first bytes of a tunnel turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FirstBytes {
    /// A complete ClientHello; `sni` is the host_name entry of server_name, if any.
    ClientHello { sni: Option<String> },
    /// Not a TLS handshake record.
    NotTls,
    /// Looks like TLS but is not a well-formed ClientHello.
    Malformed(&'static str),
    /// Looks like TLS so far; read more.
    Incomplete,
}

/// The largest ClientHello we buffer (records may fragment it); real ones are a few KiB.
pub(crate) const MAX_CLIENT_HELLO: usize = 64 * 1024;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const NAME_TYPE_HOST: u8 = 0;

/// Inspects the bytes buffered so far from the client.
pub(crate) fn inspect(buf: &[u8]) -> FirstBytes {
    if buf.is_empty() {
        return FirstBytes::Incomplete;
    }
    if buf[0] != CONTENT_HANDSHAKE {
        return FirstBytes::NotTls;
    }
    // Reassemble the handshake message from consecutive handshake records (RFC 8446 5.1 allows
    // a ClientHello to span records).
    let mut msg = Vec::new();
    let mut pos = 0;
    loop {
        let Some(header) = buf.get(pos..pos + 5) else {
            return FirstBytes::Incomplete;
        };
        if header[0] != CONTENT_HANDSHAKE {
            return FirstBytes::Malformed("non-handshake record inside ClientHello");
        }
        if header[1] != 3 {
            return FirstBytes::Malformed("unknown TLS record version");
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > 16384 {
            return FirstBytes::Malformed("bad TLS record length");
        }
        let Some(fragment) = buf.get(pos + 5..pos + 5 + len) else {
            return FirstBytes::Incomplete;
        };
        msg.extend_from_slice(fragment);
        pos += 5 + len;
        if msg.len() >= 4 {
            if msg[0] != HANDSHAKE_CLIENT_HELLO {
                return FirstBytes::Malformed("first handshake message is not a ClientHello");
            }
            let body_len =
                (usize::from(msg[1]) << 16) | (usize::from(msg[2]) << 8) | usize::from(msg[3]);
            if body_len + 4 > MAX_CLIENT_HELLO {
                return FirstBytes::Malformed("ClientHello too large");
            }
            if msg.len() >= 4 + body_len {
                return match parse_client_hello(&msg[4..4 + body_len]) {
                    Ok(sni) => FirstBytes::ClientHello { sni },
                    Err(e) => FirstBytes::Malformed(e),
                };
            }
        }
    }
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated ClientHello");
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn parse_client_hello(body: &[u8]) -> Result<Option<String>, &'static str> {
    let mut r = Reader(body);
    r.take(2)?; // legacy_version
    r.take(32)?; // random
    r.vec8()?; // legacy_session_id
    r.vec16()?; // cipher_suites
    r.vec8()?; // legacy_compression_methods
    if r.0.is_empty() {
        return Ok(None); // no extensions at all (pre-TLS 1.2 style)
    }
    let mut exts = Reader(r.vec16()?);
    let mut sni = None;
    let mut seen_server_name = false;
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        if ty != EXT_SERVER_NAME {
            continue;
        }
        // Two server_name extensions could be read differently by us and by the server: refuse.
        if seen_server_name {
            return Err("duplicate server_name extension");
        }
        seen_server_name = true;
        let mut list = Reader(Reader(data).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type != NAME_TYPE_HOST {
                continue;
            }
            if sni.is_some() {
                return Err("more than one SNI host name");
            }
            let name = std::str::from_utf8(name).map_err(|_| "SNI host name is not ASCII")?;
            if name.is_empty() || !name.is_ascii() {
                return Err("SNI host name is not ASCII");
            }
            sni = Some(name.to_string());
        }
    }
    Ok(sni)
}

/// Builds a minimal ClientHello for tests; the integration tests carry their own copy on purpose.
#[cfg(test)]
pub(crate) fn client_hello(sni: Option<&str>) -> Vec<u8> {
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let n = name.as_bytes();
        let mut list = vec![NAME_TYPE_HOST];
        list.extend_from_slice(&(n.len() as u16).to_be_bytes());
        list.extend_from_slice(n);
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&list);
        exts.extend_from_slice(&EXT_SERVER_NAME.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(&data);
    }
    // supported_versions: TLS 1.3, so the hello looks like a modern one.
    exts.extend_from_slice(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]);
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![HANDSHAKE_CLIENT_HELLO];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![CONTENT_HANDSHAKE, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sni() {
        let h = client_hello(Some("PyPI.org"));
        assert_eq!(
            inspect(&h),
            FirstBytes::ClientHello {
                sni: Some("PyPI.org".into())
            }
        );
        assert_eq!(
            inspect(&client_hello(None)),
            FirstBytes::ClientHello { sni: None }
        );
    }

    #[test]
    fn every_prefix_is_incomplete_never_wrong() {
        let h = client_hello(Some("files.pythonhosted.org"));
        for n in 0..h.len() {
            assert_eq!(inspect(&h[..n]), FirstBytes::Incomplete, "prefix {n}");
        }
    }

    #[test]
    fn fragmented_across_records() {
        let h = client_hello(Some("pypi.org"));
        let hs = &h[5..];
        let (a, b) = hs.split_at(10);
        let mut two = Vec::new();
        for part in [a, b] {
            two.extend_from_slice(&[22, 3, 1]);
            two.extend_from_slice(&(part.len() as u16).to_be_bytes());
            two.extend_from_slice(part);
        }
        assert_eq!(
            inspect(&two),
            FirstBytes::ClientHello {
                sni: Some("pypi.org".into())
            }
        );
    }

    #[test]
    fn not_tls_and_malformed() {
        assert_eq!(inspect(b"GET / HTTP/1.1\r\n"), FirstBytes::NotTls);
        assert!(matches!(
            inspect(&[22, 3, 1, 0, 0]),
            FirstBytes::Malformed(_)
        ));
        assert!(matches!(
            inspect(&[22, 9, 1, 0, 4, 1, 0, 0, 0]),
            FirstBytes::Malformed(_)
        ));
        // A ServerHello (type 2) where a ClientHello belongs.
        assert!(matches!(
            inspect(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
            FirstBytes::Malformed(_)
        ));
        // Declared body shorter than the fields inside it.
        assert!(matches!(
            inspect(&[22, 3, 3, 0, 5, 1, 0, 0, 1, 3]),
            FirstBytes::Malformed(_)
        ));
    }

    #[test]
    fn duplicate_server_name_is_refused() {
        let mut h = client_hello(Some("a.example"));
        // Append a second server_name extension and fix up the three enclosing lengths.
        let extra = [0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09];
        let mut more = extra.to_vec();
        more.extend_from_slice(b"b.example");
        h.extend_from_slice(&more);
        let add = more.len();
        let rec = u16::from_be_bytes([h[3], h[4]]) as usize + add;
        h[3..5].copy_from_slice(&(rec as u16).to_be_bytes());
        let hs = (usize::from(h[6]) << 16 | usize::from(h[7]) << 8 | usize::from(h[8])) + add;
        h[6..9].copy_from_slice(&(hs as u32).to_be_bytes()[1..]);
        // Extensions length sits after version, random, session id, suites, compression.
        let ext_len_at = 9 + 2 + 32 + 1 + 4 + 2;
        let el = u16::from_be_bytes([h[ext_len_at], h[ext_len_at + 1]]) as usize + add;
        h[ext_len_at..ext_len_at + 2].copy_from_slice(&(el as u16).to_be_bytes());
        assert_eq!(
            inspect(&h),
            FirstBytes::Malformed("duplicate server_name extension")
        );
    }
}
