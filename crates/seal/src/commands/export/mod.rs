//! `seal export`: carry a run's policy to other machines.
//!
//! - `slurm`: a batch script that runs seal itself on the node (seal needs no root, daemon or
//!   image), so the sandbox is the same one.
//! - `k8s`: a Job and a NetworkPolicy for a cluster, where seal does not run: the policy
//!   becomes the pod's (no network at all, non-root, no privilege, read-only root, the limits
//!   as resources), for an image that holds the environment and the project.

mod k8s;
mod slurm;
mod yaml;

pub use k8s::k8s;
pub use slurm::slurm;
