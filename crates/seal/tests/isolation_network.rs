//! Network isolation. Every sink listens on host loopback (127.0.0.1, an abstract Unix socket
//! or a Unix socket path in a test-owned directory); no probe ever addresses anything else.

mod support;

use support::isolation::probes::{self, exfil_probe, Mode};
use support::isolation::*;

#[test]
fn host_loopback_tcp_listener_is_unreachable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "tcp");
        let sink = Sink::tcp();
        let probe = exfil_probe(
            &env,
            "tcp",
            r#"
attempt("tcp_127.0.0.1", send_stream, socket.AF_INET, ("127.0.0.1", A["port"]))
"#,
        );
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[("port", sink.port.to_string()), ("marker", jstr(&marker))]);

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        p.expect_in("tcp_127.0.0.1", &["ECONNREFUSED", "ENETUNREACH"]);
        sink.assert_untouched("TCP 127.0.0.1 from the sandbox");

        // Positive control: without seal the listener receives the marker and the canaries.
        env.direct_ok(&probe, &args)
            .expect_eq("tcp_127.0.0.1", "OK");
        probes::expect_exfil_received(&sink, &env, &marker, "TCP control");
    });
}

#[test]
fn dns_query_to_host_loopback_stub_is_not_delivered() {
    each_variant(|v| {
        let env = TestEnv::new(v, "dns");
        let sink = Sink::udp_dns();
        let probe = exfil_probe(
            &env,
            "dns",
            r#"
def query(name):
    q = struct.pack(">HHHHHH", 0x5ea1, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        b = label.encode()[:63]
        q += bytes([len(b)]) + b
    return q + b"\x00" + struct.pack(">HH", 16, 1)
# Birsan-style: the secret, hex-encoded, as labels of the query name.
name = A["marker"] + "." + PAYLOAD.hex()[:60]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
attempt("udp_connect", s.connect, ("127.0.0.1", A["port"]))
attempt("udp_send", lambda: s.send(query(name)) and None)
attempt("udp_reply", lambda: s.recv(512) and None)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt("udp_sendto", lambda: u.sendto(query(name), ("127.0.0.1", A["port"])) and None)
"#,
        );
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[("port", sink.port.to_string()), ("marker", jstr(&marker))]);

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        // Sending a datagram on the sandbox's own loopback succeeds; nobody answers there.
        p.expect_eq("udp_connect", "OK");
        p.expect_in("udp_send", &["OK", "ECONNREFUSED", "ENETUNREACH"]);
        p.expect_in("udp_reply", &["ECONNREFUSED", "TIMEOUT", "ENETUNREACH"]);
        sink.assert_untouched("UDP DNS query from the sandbox");

        // Positive control: the stub receives the query (with the marker) and answers.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("udp_send", "OK");
        c.expect_eq("udp_reply", "OK");
        sink.assert_received(&marker, "DNS control");
    });
}

#[test]
fn host_abstract_unix_socket_is_unreachable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "abstract");
        let sink = Sink::abstract_unix();
        let probe = exfil_probe(
            &env,
            "abstract",
            r#"attempt("abstract", send_stream, socket.AF_UNIX, "\0" + A["name"])"#,
        );
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[("name", jstr(&sink.name)), ("marker", jstr(&marker))]);

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        // Abstract sockets belong to the network namespace (ECONNREFUSED); Landlock's
        // abstract-socket scope would answer EPERM.
        p.expect_in("abstract", &["ECONNREFUSED", "EPERM"]);
        sink.assert_untouched("abstract Unix socket from the sandbox");

        env.direct_ok(&probe, &args).expect_eq("abstract", "OK");
        sink.assert_received(&marker, "abstract socket control");
    });
}

#[test]
fn docker_sock_path_is_not_visible() {
    each_variant(|v| {
        let env = TestEnv::new(v, "docker-sock");
        let path = env.run_dir.join("docker.sock");
        let sink = Sink::path_unix(&path);
        let probe = exfil_probe(
            &env,
            "docker_sock",
            r#"
attempt("stat", lambda: os.stat(A["path"]) and None)
attempt("connect", send_stream, socket.AF_UNIX, A["path"])
"#,
        );
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[("path", jpath(&path)), ("marker", jstr(&marker))]);

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        p.expect_eq("stat", "ENOENT");
        p.expect_eq("connect", "ENOENT");
        sink.assert_untouched("docker.sock from the sandbox");

        env.direct_ok(&probe, &args).expect_eq("connect", "OK");
        sink.assert_received(&marker, "docker.sock control");
    });
}

/// Beyond the stated contract: a live host socket that happens to sit inside a directory the
/// sandbox sees (the project, an --in or --out directory) is a door out of the sandbox, because
/// connecting to a Unix socket ignores the read-only mount. Examples: an ssh-agent or
/// IDE/language-server socket, a dev server's socket, a docker.sock in the project.
#[test]
fn host_unix_socket_inside_the_project_is_not_connectable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "project-sock");
        let path = env.project.join("agent.sock");
        let sink = Sink::path_unix(&path);
        let probe = exfil_probe(
            &env,
            "project_sock",
            r#"attempt("connect", send_stream, socket.AF_UNIX, A["path"])"#,
        );
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[("path", jpath(&path)), ("marker", jstr(&marker))]);

        Mode::Namespaces
            .run_ok(&env, &probe, &args, &[])
            .probe()
            .expect_in("connect", &["ECONNREFUSED", "EACCES", "EPERM", "ENOENT"]);
        sink.assert_untouched("a host socket inside the project, from the sandbox");

        env.direct_ok(&probe, &args).expect_eq("connect", "OK");
        sink.assert_received(&marker, "project socket control");
    });
}

const INTERFACES: &str = include_str!("probes/isolation_network/interfaces.py");

#[test]
fn only_the_loopback_interface_exists_and_it_is_up() {
    each_variant(|v| {
        let env = TestEnv::new(v, "interfaces");
        let probe = env.probe(
            "interfaces",
            &format!("{INTERFACES}{}", probes::LOOPBACK_ECHO),
        );

        let p = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("ifaces", "lo");
        p.expect_eq("proc_net_dev", "lo");
        // The sandbox's own loopback works (servers and clients inside can talk).
        p.expect_eq("loopback_echo", "ping");

        // Positive control: the host has more than a loopback interface.
        let host = env.direct_ok(&probe, "{}").get("ifaces").to_string();
        if host == "lo" {
            eprintln!(
                "NOTE: the host itself has only `lo`: the interface check cannot discriminate here"
            );
        } else {
            assert!(
                host.split(',').any(|i| i != "lo"),
                "host interfaces: {host}"
            );
        }
    });
}
