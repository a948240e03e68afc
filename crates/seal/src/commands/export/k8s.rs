//! `seal export k8s`: a batch/v1 Job and a NetworkPolicy (YAML, to stdout) that give a pod
//! what `seal run` gives the program here, as far as Kubernetes can express it.
//!
//! seal does not run in the pod (a restricted pod may not create user namespaces), so the
//! policy is translated: no network at all (a NetworkPolicy selecting only this Job's pod,
//! with no ingress and no egress rule: DNS included), the sandbox's uid 1000 as a non-root
//! user, no privilege escalation, every capability dropped, the runtime's default seccomp
//! profile, a read-only root file system with /tmp and HOME as memory-backed emptyDirs of the
//! sandbox's size, each `--out` as an emptyDir, no service-account token and no service
//! variables, and --cpus, --memory and --timeout as the container's resources and the Job's
//! deadline. What has no equivalent in a pod (this machine's files as inputs, published ports,
//! devices, host variables, a proxy with a host allowlist) is refused with the reason, never
//! dropped silently.
//!
//! The image is the user's (`--image`): it must hold the interpreter the environment was built
//! for at the same path, the environment at /seal/env and the project at /seal/project, the
//! layout of `seal run` with the project moved to a fixed place.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::yaml;
use crate::cli::ExportK8sArgs;
use crate::layout::{RunRequest, SANDBOX_HOME};
use crate::project::ENV_MOUNT;

/// Where the image holds the project.
pub const PROJECT_IN_IMAGE: &str = "/seal/project";
/// The sandbox's own identity (`seal run` runs the program as this uid and gid).
const UID: u64 = 1000;
/// The label that ties the NetworkPolicy to the Job's pod.
const LABEL: &str = "seal-job";

pub fn k8s(args: ExportK8sArgs) -> Result<i32> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let image = args.image.clone();
    let run = crate::commands::run::resolve(args.sandbox, &args.command)?;
    refuse_what_a_pod_cannot_do(&run.settings)?;
    let project = run.project.root.canonicalize().with_context(|| {
        format!(
            "cannot resolve the project directory {}",
            run.project.root.display()
        )
    })?;
    let name = match args.name {
        Some(n) => checked_name(&n)?,
        None => default_name(&project),
    };
    let job = Job {
        name,
        image,
        runtime_class: args.runtime_class,
        places: Places { project, cwd },
    };
    let text = manifests(&job, &run.settings.request);
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write the manifests to standard output")?;
    Ok(0)
}

struct Job {
    name: String,
    image: String,
    runtime_class: Option<String>,
    places: Places,
}

/// Host paths and where they are in the pod.
struct Places {
    project: PathBuf,
    cwd: PathBuf,
}

impl Places {
    /// A host path as the pod sees it: under the project, moved to /seal/project; elsewhere,
    /// unchanged (an emptyDir can be mounted anywhere).
    fn in_pod(&self, host: &Path) -> PathBuf {
        let abs = if host.is_absolute() {
            host.to_path_buf()
        } else {
            self.cwd.join(host)
        };
        let abs = normalize(&abs);
        match abs.strip_prefix(&self.project) {
            Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from(PROJECT_IN_IMAGE),
            Ok(rest) => Path::new(PROJECT_IN_IMAGE).join(rest),
            Err(_) => abs,
        }
    }

    fn working_dir(&self) -> PathBuf {
        match self.cwd.strip_prefix(&self.project) {
            Ok(rest) if !rest.as_os_str().is_empty() => Path::new(PROJECT_IN_IMAGE).join(rest),
            _ => PathBuf::from(PROJECT_IN_IMAGE),
        }
    }

    /// A program argument: an absolute path into the project is moved with it; anything else
    /// (relative paths resolve against the working directory, which moved too) stays.
    fn argument(&self, word: &OsString) -> String {
        let text = word.to_string_lossy();
        let p = Path::new(text.as_ref());
        if p.is_absolute() && normalize(p).starts_with(&self.project) {
            self.in_pod(p).display().to_string()
        } else {
            text.into_owned()
        }
    }
}

/// `.` and `..` removed lexically (the paths may not exist here).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn refuse_what_a_pod_cannot_do(s: &crate::settings::RunSettings) -> Result<()> {
    let r = &s.request;
    let no_files = "this machine's files are not in the pod: put them into the image, or add a volume to the manifest";
    let checks: [(bool, &str, &str); 9] = [
        (!r.inputs.is_empty(), "--in", no_files),
        (!r.input_copies.is_empty(), "--in-copy", no_files),
        (!r.shares.is_empty(), "--share", no_files),
        (
            !r.live_outputs.is_empty(),
            "--out-live",
            "a pod's output directory is an emptyDir: use --out",
        ),
        (
            !s.publishes.is_empty(),
            "--publish",
            "the NetworkPolicy admits no connection; expose a port with a Service and a policy of your own",
        ),
        (
            !r.allow_net.is_empty(),
            "--allow-net",
            "a NetworkPolicy selects addresses, not host names, and seal's proxy does not run in the pod",
        ),
        (
            r.gpu || !r.devices.is_empty(),
            "--gpu/--device",
            "devices come from the cluster's device plugins: add their resource (nvidia.com/gpu) to the manifest",
        ),
        (
            !r.pass_env.is_empty(),
            "--pass-env",
            "the manifest would carry this machine's value in plain text: use --env for what may be written down, a Secret otherwise",
        ),
        (
            r.notebook_dir.is_some(),
            "a notebook directory",
            "not a batch job",
        ),
    ];
    for (present, what, why) in checks {
        if present {
            bail!("{what} has no equivalent in a Kubernetes Job: {why}");
        }
    }
    Ok(())
}

/// Kubernetes object names (RFC 1123 labels: lowercase letters, digits and `-`, at most 63,
/// starting and ending with a letter or digit).
fn checked_name(n: &str) -> Result<String> {
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.starts_with('-')
        && !n.ends_with('-');
    if ok {
        Ok(n.into())
    } else {
        bail!("--name {n:?}: a Kubernetes name is 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit")
    }
}

fn default_name(project: &Path) -> String {
    let base: String = project
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut name = format!("seal-{base}");
    name.truncate(63);
    let name = name.trim_end_matches('-').to_string();
    if name == "seal" || name.is_empty() {
        "seal".into()
    } else {
        name
    }
}

/// A CPU count as a Kubernetes quantity, in millicores.
fn cpu_quantity(cpus: f64) -> String {
    format!("{}m", (cpus * 1000.0).ceil().max(1.0) as u64)
}

/// Bytes as a Kubernetes quantity, in whole MiB rounded up.
fn mib_quantity(bytes: u64) -> String {
    format!("{}Mi", bytes.div_ceil(1 << 20).max(1))
}

fn manifests(job: &Job, r: &RunRequest) -> String {
    let labels = json!({ LABEL: job.name, "app.kubernetes.io/managed-by": "seal" });
    let policy = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": { "name": job.name, "labels": labels },
        "spec": {
            "podSelector": { "matchLabels": { LABEL: job.name } },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [],
        },
    });

    let mut mounts = vec![
        json!({ "name": "tmp", "mountPath": "/tmp" }),
        json!({ "name": "home", "mountPath": SANDBOX_HOME }),
    ];
    let scratch = json!({ "medium": "Memory", "sizeLimit": mib_quantity(r.disk) });
    let mut volumes = vec![
        json!({ "name": "tmp", "emptyDir": scratch }),
        json!({ "name": "home", "emptyDir": scratch }),
    ];
    for (i, out) in r.outputs.iter().enumerate() {
        let name = format!("out-{i}");
        mounts.push(json!({ "name": name, "mountPath": job.places.in_pod(out) }));
        volumes
            .push(json!({ "name": name, "emptyDir": { "sizeLimit": mib_quantity(r.out_quota) } }));
    }

    let mut resources = serde_json::Map::new();
    if let Some(c) = r.cpus {
        resources.insert("cpu".into(), cpu_quantity(c).into());
    }
    if let (true, Some(m)) = (r.memory_explicit, r.memory) {
        resources.insert("memory".into(), mib_quantity(m).into());
    }
    let resources = Value::Object(resources);

    let path = if r.env_dir.is_some() {
        format!("{ENV_MOUNT}/bin:/usr/local/bin:/usr/bin:/bin")
    } else {
        "/usr/local/bin:/usr/bin:/bin".into()
    };
    let mut env = vec![
        json!({ "name": "PATH", "value": path }),
        json!({ "name": "HOME", "value": SANDBOX_HOME }),
        json!({ "name": "TMPDIR", "value": "/tmp" }),
    ];
    for (k, v) in &r.set_env {
        env.retain(|e| e["name"] != k.as_str());
        env.push(json!({ "name": k, "value": v }));
    }

    let command: Vec<String> = r.command.iter().map(|w| job.places.argument(w)).collect();
    let container = json!({
        "name": "program",
        "image": job.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "workingDir": job.places.working_dir(),
        "env": env,
        "resources": { "limits": resources, "requests": resources },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "privileged": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "capabilities": { "drop": ["ALL"] },
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "volumeMounts": mounts,
    });
    let mut pod = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "hostNetwork": false,
        "hostPID": false,
        "hostIPC": false,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "containers": [container],
        "volumes": volumes,
    });
    if let Some(rc) = &job.runtime_class {
        pod["runtimeClassName"] = rc.as_str().into();
    }
    let mut spec = json!({
        "backoffLimit": 0,
        "template": { "metadata": { "labels": { LABEL: job.name } }, "spec": pod },
    });
    if let Some(t) = r.timeout {
        spec["activeDeadlineSeconds"] = (t.as_secs_f64().ceil() as u64).max(1).into();
    }
    let job_doc = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": job.name, "labels": labels },
        "spec": spec,
    });

    let mut text = String::new();
    text.push_str("# Written by `seal export k8s`; apply with `kubectl apply -f FILE`.\n");
    text.push_str(&format!(
        "# The image must hold the interpreter at the path the environment was built for, the\n\
         # environment at {ENV_MOUNT} and the project at {PROJECT_IN_IMAGE}. Not carried: the pids\n\
         # limit (a node's kubelet sets podPidsLimit), Landlock and seal's own seccomp filter (the\n\
         # runtime's default profile applies; add runtimeClassName, e.g. --runtime-class gvisor,\n\
         # for a stronger boundary). Outputs are emptyDirs: copy them out before the pod is gone.\n"
    ));
    text.push_str("---\n");
    text.push_str(&yaml::document(&policy));
    text.push_str("---\n");
    text.push_str(&yaml::document(&job_doc));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123() {
        assert_eq!(
            default_name(Path::new("/home/a/My Proj_2")),
            "seal-my-proj-2"
        );
        assert_eq!(default_name(Path::new("/")), "seal");
        assert!(default_name(Path::new(&format!("/{}", "x".repeat(100)))).len() <= 63);
        assert!(checked_name("train-1").is_ok());
        for bad in ["", "Train", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(checked_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(2.0), "2000m");
        assert_eq!(cpu_quantity(0.25), "250m");
        assert_eq!(mib_quantity(1 << 30), "1024Mi");
        assert_eq!(mib_quantity(1), "1Mi");
    }

    #[test]
    fn paths_move_with_the_project() {
        let p = Places {
            project: "/home/a/proj".into(),
            cwd: "/home/a/proj/src".into(),
        };
        assert_eq!(p.working_dir(), Path::new("/seal/project/src"));
        assert_eq!(
            p.in_pod(Path::new("../results")),
            Path::new("/seal/project/results")
        );
        assert_eq!(
            p.in_pod(Path::new("/scratch/out")),
            Path::new("/scratch/out")
        );
        assert_eq!(
            p.argument(&"/home/a/proj/train.py".into()),
            "/seal/project/train.py"
        );
        assert_eq!(p.argument(&"train.py".into()), "train.py");
        assert_eq!(p.argument(&"/home/a/projx".into()), "/home/a/projx");
    }
}
