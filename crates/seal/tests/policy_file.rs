//! The project's policy file (seal.toml, [tool.seal]) and `seal init`, as the calling user and
//! (when that is root) as uid 65534.

mod support;
use support::cli::*;

/// The project of every test: `data/in.txt`.
const FILES: &[(&str, &str)] = &[("data/in.txt", "input-text")];

const PROBE: &str = "import os; print(open('data/in.txt').read(), os.environ.get('FROM_POLICY')); open('results/r.txt', 'w').write('ok')";

#[test]
fn init_then_policy_drives_the_run_and_flags_override_it() {
    for uid in users() {
        let s = scratch(uid, FILES);
        let proj = &s.project;
        let o = s.seal(uid, &["init"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        // Never over an existing policy.
        let again = s.seal(uid, &["init"]);
        assert_eq!(again.status.code(), Some(125), "{}", text(&again));

        let starter = std::fs::read_to_string(proj.join("seal.toml")).unwrap();
        let edited = starter
            .replace("# in = [\"data\"]", "in = [\"data\"]")
            .replace("# out = [\"results\"]", "out = [\"results\"]")
            .replace(
                "# env = { MPLBACKEND = \"Agg\" }",
                "env = { FROM_POLICY = \"yes\" }",
            )
            .replace("# pids = 1024", "pids = 77");
        assert_ne!(edited, starter);
        std::fs::write(proj.join("seal.toml"), edited).unwrap();

        let o = s.seal(
            uid,
            &[
                "run",
                "-v",
                "--python",
                "/usr/bin/python3",
                "--",
                "python3",
                "-c",
                PROBE,
            ],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(t.contains("input-text yes"), "{t}");
        assert!(t.contains("pids limit       77 processes"), "{t}");
        assert_eq!(
            std::fs::read_to_string(proj.join("results/r.txt")).unwrap(),
            "ok"
        );

        // A flag wins over the file.
        let o = s.seal(
            uid,
            &[
                "run",
                "-v",
                "--pids",
                "55",
                "--env",
                "FROM_POLICY=cli",
                "--python",
                "/usr/bin/python3",
                "--",
                "python3",
                "-c",
                "import os; print(os.environ['FROM_POLICY'])",
            ],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(
            t.contains("pids limit       55 processes") && t.contains("cli"),
            "{t}"
        );
    }
}

#[test]
fn policy_errors_name_file_line_and_column() {
    for uid in users() {
        let s = scratch(uid, FILES);
        let proj = &s.project;
        for (body, want) in [
            (
                "[run]\nout = [\"r\"]\nbogus = 1\n",
                "seal.toml:3:1: unknown field `bogus`",
            ),
            ("[limits]\npids = \"many\"\n", "seal.toml:2:8:"),
            ("[limits]\nmemory = \"lots\"\n", "limits.memory"),
            ("[run\n", "seal.toml:1:"),
        ] {
            std::fs::write(proj.join("seal.toml"), body).unwrap();
            let o = s.seal(
                uid,
                &[
                    "run",
                    "--python",
                    "/usr/bin/python3",
                    "--",
                    "/bin/echo",
                    "RAN",
                ],
            );
            let t = text(&o);
            assert_eq!(o.status.code(), Some(125), "{body:?}: {t}");
            assert!(
                String::from_utf8_lossy(&o.stderr).contains(want),
                "{body:?}: {t}"
            );
            assert_eq!(
                String::from_utf8_lossy(&o.stderr).lines().count(),
                1,
                "{body:?}: {t}"
            );
            assert!(!t.contains("RAN"), "{body:?}: {t}");
        }
    }
}

#[test]
fn tool_seal_table_in_pyproject_is_the_same_schema() {
    for uid in users() {
        let s = scratch(uid, FILES);
        let proj = &s.project;
        std::fs::write(
            proj.join("pyproject.toml"),
            "[project]\nname = \"x\"\nversion = \"0\"\n\n[tool.seal.run]\nin = [\"data\"]\nenv = { FROM_POLICY = \"py\" }\n",
        )
        .unwrap();
        let o = s.seal(
            uid,
            &[
                "run",
                "--python",
                "/usr/bin/python3",
                "--",
                "python3",
                "-c",
                "import os; print(open('data/in.txt').read(), os.environ['FROM_POLICY'])",
            ],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(t.contains("input-text py"), "{t}");
        std::fs::write(proj.join("pyproject.toml"), "[tool.seal.run]\nbogus = 1\n").unwrap();
        let o = s.seal(
            uid,
            &["run", "--python", "/usr/bin/python3", "--", "/bin/true"],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(125), "{t}");
        assert!(
            t.contains("pyproject.toml:2:1: unknown field `bogus`"),
            "{t}"
        );
    }
}
