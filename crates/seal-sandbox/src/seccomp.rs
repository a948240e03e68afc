//! The seccomp filter applied last, just before `execve`.
//!
//! A deny-list, not an allow-list: the sandboxed program is arbitrary Python with native
//! extensions, so we refuse only the calls that attack the kernel, other processes or the
//! sandbox itself, and keep everything a normal program needs (threads, subprocess,
//! multiprocessing, mmap tricks of numerical libraries).
//!
//! The program is generated here as plain data and installed by the syscall layer.

use libc::sock_filter;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Offset of the low 32 bits of syscall argument `i` (seccomp_data is little-endian here).
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// x32 system calls run on an x86_64 kernel with the same AUDIT_ARCH but bit 30 set in the
/// number; a filter that forgets them can be bypassed by calling the x32 twin.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// System calls numbered from 424 on share one number on every architecture.
const SYS_PIDFD_GETFD: u32 = 438;
const SYS_IO_URING_SETUP: u32 = 425;
const SYS_IO_URING_ENTER: u32 = 426;
const SYS_IO_URING_REGISTER: u32 = 427;
const SYS_OPEN_TREE: u32 = 428;
const SYS_MOVE_MOUNT: u32 = 429;
const SYS_FSOPEN: u32 = 430;
const SYS_FSCONFIG: u32 = 431;
const SYS_FSMOUNT: u32 = 432;
const SYS_FSPICK: u32 = 433;
const SYS_CLONE3: u32 = 435;
const SYS_MOUNT_SETATTR: u32 = 442;
const SYS_OPEN_TREE_ATTR: u32 = 467;
const SYS_OPENAT2: u32 = 437;
const SYS_FCHMODAT2: u32 = 452;

/// setuid and setgid bits of a file mode. A file with them, written into a directory the host
/// shares (--out-live, --share), keeps them on the host, where nosuid no longer applies: a
/// program run by root could leave a setuid-root binary behind.
const SET_ID_BITS: u32 = 0o6000;
/// Flags under which open's mode argument is used.
const OPEN_CREATES: u32 = (libc::O_CREAT as u32) | 0o20000000 /* __O_TMPFILE */;

const CLONE_NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | 0x80/* CLONE_NEWTIME */) as u32;

const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541C;
const AF_VSOCK: u32 = 40;

/// A group of calls refused together: what `seal run -v` calls it, why it is dangerous, and
/// the calls. Said once per group; [`flatten`] gives the (number, name, reason) rows the filter
/// and the tests go through.
type Group = (&'static str, &'static str, Vec<u32>);

fn flatten(groups: Vec<Group>) -> Vec<(u32, &'static str, &'static str)> {
    groups
        .into_iter()
        .flat_map(|(what, why, calls)| calls.into_iter().map(move |nr| (nr, what, why)))
        .collect()
}

/// Calls refused with EPERM whatever their arguments: (number, what `seal run -v` calls it,
/// why it is dangerous).
fn denied_syscalls() -> Vec<(u32, &'static str, &'static str)> {
    let n = |x: libc::c_long| x as u32;
    // Extended below on x86_64 only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut groups: Vec<Group> = vec![
        (
            "ptrace",
            "reads and writes other processes",
            vec![n(libc::SYS_ptrace)],
        ),
        (
            "process_vm_*",
            "reads and writes other processes' memory",
            vec![
                n(libc::SYS_process_vm_readv),
                n(libc::SYS_process_vm_writev),
            ],
        ),
        (
            "pidfd_getfd",
            "steals descriptors from other processes",
            vec![SYS_PIDFD_GETFD],
        ),
        (
            "keyrings",
            "kernel keyrings are not namespaced",
            vec![
                n(libc::SYS_keyctl),
                n(libc::SYS_add_key),
                n(libc::SYS_request_key),
            ],
        ),
        ("bpf", "large kernel attack surface", vec![n(libc::SYS_bpf)]),
        (
            "perf_event_open",
            "side channels and kernel attack surface",
            vec![n(libc::SYS_perf_event_open)],
        ),
        (
            "userfaultfd",
            "used to win kernel races",
            vec![n(libc::SYS_userfaultfd)],
        ),
        (
            "io_uring",
            "bypasses seccomp and has a long CVE history",
            vec![
                SYS_IO_URING_SETUP,
                SYS_IO_URING_ENTER,
                SYS_IO_URING_REGISTER,
            ],
        ),
        (
            "kexec",
            "replaces the kernel",
            vec![n(libc::SYS_kexec_load), n(libc::SYS_kexec_file_load)],
        ),
        (
            "the mount family",
            "changes the sandbox's file system view",
            vec![
                n(libc::SYS_mount),
                n(libc::SYS_umount2),
                SYS_MOUNT_SETATTR,
                SYS_MOVE_MOUNT,
                SYS_OPEN_TREE,
                SYS_OPEN_TREE_ATTR,
                SYS_FSOPEN,
                SYS_FSCONFIG,
                SYS_FSMOUNT,
                SYS_FSPICK,
            ],
        ),
        (
            "pivot_root",
            "changes the sandbox's root",
            vec![n(libc::SYS_pivot_root)],
        ),
        (
            "chroot",
            "changes the sandbox's root",
            vec![n(libc::SYS_chroot)],
        ),
        ("setns", "joins other namespaces", vec![n(libc::SYS_setns)]),
        (
            "unshare",
            "creates namespaces (user namespaces expose kernel surface)",
            vec![n(libc::SYS_unshare)],
        ),
        (
            "modules",
            "loads and unloads kernel code",
            vec![
                n(libc::SYS_init_module),
                n(libc::SYS_finit_module),
                n(libc::SYS_delete_module),
            ],
        ),
        ("reboot", "host-global", vec![n(libc::SYS_reboot)]),
        (
            "swap",
            "host-global",
            vec![n(libc::SYS_swapon), n(libc::SYS_swapoff)],
        ),
        ("acct", "host-global", vec![n(libc::SYS_acct)]),
        ("quotactl", "host-global", vec![n(libc::SYS_quotactl)]),
        ("syslog", "reads the kernel log", vec![n(libc::SYS_syslog)]),
        (
            "file handles",
            "escapes bind mounts by file handle",
            vec![
                n(libc::SYS_open_by_handle_at),
                n(libc::SYS_name_to_handle_at),
            ],
        ),
        (
            "clock setting",
            "host-global clock",
            vec![
                n(libc::SYS_settimeofday),
                n(libc::SYS_clock_settime),
                n(libc::SYS_clock_adjtime),
                n(libc::SYS_adjtimex),
            ],
        ),
        ("vhangup", "terminal attack", vec![n(libc::SYS_vhangup)]),
        (
            "fanotify",
            "watches file systems",
            vec![n(libc::SYS_fanotify_init)],
        ),
    ];
    #[cfg(target_arch = "x86_64")]
    groups.extend([
        (
            "raw I/O ports",
            "raw I/O port access",
            vec![n(libc::SYS_iopl), n(libc::SYS_ioperm)],
        ),
        (
            "uselib",
            "obsolete loader entry point",
            vec![n(libc::SYS_uselib)],
        ),
    ]);
    flatten(groups)
}

pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// The filter installed before the main one when the caller observes the program's calls:
/// connect(), sendto() with a destination, execve() and execveat() stop for the supervisor,
/// which records them and lets them continue. Everything else, and other architectures'
/// calls (which the main filter handles), pass. When both filters answer the kernel takes
/// the stricter action, so a call the main filter refuses stays refused. sendto() without a
/// destination (argument 4 NULL) is send() on a connected socket, whose connect() was seen.
pub(crate) fn build_observe_filter() -> Vec<sock_filter> {
    let nr = |n: libc::c_long| n as u32;
    // Indices: 11 allows, 12 notifies; jumps count from the next instruction.
    vec![
        /* 0 */ stmt(BPF_LD_W_ABS, OFF_ARCH),
        /* 1 */ jump(BPF_JEQ_K, AUDIT_ARCH, 0, 9),
        /* 2 */ stmt(BPF_LD_W_ABS, OFF_NR),
        /* 3 */ jump(BPF_JEQ_K, nr(libc::SYS_connect), 8, 0),
        /* 4 */ jump(BPF_JEQ_K, nr(libc::SYS_execve), 7, 0),
        /* 5 */ jump(BPF_JEQ_K, nr(libc::SYS_execveat), 6, 0),
        /* 6 */ jump(BPF_JEQ_K, nr(libc::SYS_sendto), 0, 4),
        /* 7 */ stmt(BPF_LD_W_ABS, off_arg_lo(4)),
        /* 8 */ jump(BPF_JEQ_K, 0, 0, 3),
        /* 9 */ stmt(BPF_LD_W_ABS, off_arg_lo(4) + 4),
        /* 10 */ jump(BPF_JEQ_K, 0, 0, 1),
        /* 11 */ ret(RET_ALLOW),
        /* 12 */ ret(RET_USER_NOTIF),
    ]
}

const BPF_JA: u16 = 0x05;

/// The observe filter joined to the main one, for a run whose refused calls are recorded too
/// (one task can have only one filter with a listener). Every answer of the main filter that
/// is an errno becomes a notification, which the supervisor answers with that same errno
/// after evaluating the main filter on the call ([`evaluate`]): a refused call never runs,
/// and with the supervisor gone the kernel fails it (ENOSYS). Every "allow" goes on to the
/// observe filter's checks; kills stay kills.
pub(crate) fn build_audit_filter(main: &[sock_filter]) -> Vec<sock_filter> {
    // The observe filter past its architecture check, which the main filter made already.
    let tail = &build_observe_filter()[2..];
    let tail_start = main.len();
    let mut out: Vec<sock_filter> = main
        .iter()
        .enumerate()
        .map(|(i, ins)| match (ins.code, ins.k) {
            (BPF_RET_K, RET_ALLOW) => jump(BPF_JA, (tail_start - i - 1) as u32, 0, 0),
            (BPF_RET_K, k) if errno_of(k).is_some() => ret(RET_USER_NOTIF),
            _ => *ins,
        })
        .collect();
    out.extend_from_slice(tail);
    out
}

/// Run a filter of the instructions this module emits on one call, as the kernel would: the
/// action. Anything unexpected (an opcode not emitted here, a jump out of the program) is a
/// kill, so that an error here never allows a call.
pub(crate) fn evaluate(filter: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let mut acc = 0u32;
    let mut pc = 0usize;
    while let Some(ins) = filter.get(pc) {
        match ins.code {
            BPF_LD_W_ABS => {
                let o = ins.k as usize;
                match data.get(o..o + 4) {
                    Some(w) => acc = u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
                    None => return RET_KILL_PROCESS,
                }
                pc += 1;
            }
            BPF_RET_K => return ins.k,
            BPF_ALU_AND_K => {
                acc &= ins.k;
                pc += 1;
            }
            BPF_JA => pc += 1 + ins.k as usize,
            code => {
                let taken = match code {
                    BPF_JEQ_K => acc == ins.k,
                    BPF_JGE_K => acc >= ins.k,
                    BPF_JSET_K => acc & ins.k != 0,
                    _ => return RET_KILL_PROCESS,
                };
                pc += 1 + if taken { ins.jt } else { ins.jf } as usize;
            }
        }
    }
    RET_KILL_PROCESS
}

/// The errno of an action that answers with one.
pub(crate) fn errno_of(action: u32) -> Option<i32> {
    (action & 0xffff_0000 == RET_ERRNO).then_some((action & 0xffff) as i32)
}

/// The architecture this module's filters are built for (seccomp_data.arch).
pub(crate) const NATIVE_ARCH: u32 = AUDIT_ARCH;

/// The name of a system call the filters refuse, for reports.
pub(crate) fn refused_name(nr: u32) -> Option<&'static str> {
    denied_syscalls()
        .into_iter()
        .find(|(n, _, _)| *n == nr)
        .map(|(_, name, _)| name)
        .or(match nr {
            SYS_CLONE3 => Some("clone3"),
            n if n == libc::SYS_clone as u32 => Some("clone"),
            n if n == libc::SYS_ioctl as u32 => Some("ioctl"),
            n if n == libc::SYS_socket as u32 => Some("socket"),
            _ => None,
        })
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn ret(k: u32) -> sock_filter {
    stmt(BPF_RET_K, k)
}

fn errno(e: i32) -> u32 {
    RET_ERRNO | (e as u32 & 0xffff)
}

/// Emit `if nr == NR { body }` where `body` always ends in a return, so the accumulator still
/// holds the syscall number for the next check.
fn block(out: &mut Vec<sock_filter>, nr: u32, body: Vec<sock_filter>) {
    debug_assert!(body.len() < 256);
    out.push(jump(BPF_JEQ_K, nr, 0, body.len() as u8));
    out.extend(body);
}

/// A filter under construction and what each of its rules refuses, so that what `seal run -v`
/// says the filter denies is made from the rules themselves and cannot drift from them.
struct Rules {
    program: Vec<sock_filter>,
    refused: Vec<&'static str>,
}

impl Rules {
    /// `if nr == NR { body }` (see [`block`]), a rule that refuses `what`.
    fn on(&mut self, what: &'static str, nr: u32, body: Vec<sock_filter>) {
        block(&mut self.program, nr, body);
        self.refuses(what);
    }

    fn refuses(&mut self, what: &'static str) {
        if !self.refused.contains(&what) {
            self.refused.push(what);
        }
    }

    /// Every call with no rule is allowed.
    fn finish(mut self) -> (Vec<sock_filter>, Vec<&'static str>) {
        self.program.push(ret(RET_ALLOW));
        (self.program, self.refused)
    }
}

/// What both filters start with: the architecture check, x32 refused, and clone without
/// namespace flags (clone3 answered ENOSYS).
fn prologue() -> Rules {
    let mut f = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        // A foreign ABI (i386 via int 0x80 on x86_64) is not something a Python program needs.
        ret(RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, OFF_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        f.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1));
        f.push(ret(errno(libc::ENOSYS)));
    }
    let mut rules = Rules {
        program: f,
        refused: vec!["x32 and foreign ABIs"],
    };
    // clone3 passes flags in memory that seccomp cannot read: answer ENOSYS so that glibc
    // falls back to clone(2), whose flags we can check.
    rules.on(
        "clone3 (ENOSYS)",
        SYS_CLONE3,
        vec![ret(errno(libc::ENOSYS))],
    );
    rules.on(
        "clone with namespace flags",
        libc::SYS_clone as u32,
        vec![
            stmt(BPF_LD_W_ABS, off_arg_lo(0)),
            jump(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
            ret(errno(libc::EPERM)),
            ret(RET_ALLOW),
        ],
    );
    rules
}

/// Build the namespace mode's filter for a sandbox whose only mapped ids are `uid` and `gid`.
pub fn build_filter(uid: u32, gid: u32) -> Vec<sock_filter> {
    namespace_rules(uid, gid).0
}

/// What the namespace mode's filter refuses, for `seal run -v` and the docs (the same for
/// every mapped id).
pub fn describe() -> String {
    namespace_rules(0, 0).1.join(", ")
}

/// The id arguments of chown and the set*id calls: (argument index, is it a group id).
fn id_arguments() -> Vec<(u32, Vec<(u32, bool)>)> {
    let n = |x: libc::c_long| x as u32;
    let mut v = vec![
        (n(libc::SYS_fchown), vec![(1, false), (2, true)]),
        (n(libc::SYS_fchownat), vec![(2, false), (3, true)]),
        (n(libc::SYS_setuid), vec![(0, false)]),
        (n(libc::SYS_setgid), vec![(0, true)]),
        (n(libc::SYS_setreuid), vec![(0, false), (1, false)]),
        (n(libc::SYS_setregid), vec![(0, true), (1, true)]),
        (
            n(libc::SYS_setresuid),
            vec![(0, false), (1, false), (2, false)],
        ),
        (
            n(libc::SYS_setresgid),
            vec![(0, true), (1, true), (2, true)],
        ),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        (n(libc::SYS_chown), vec![(1, false), (2, true)]),
        (n(libc::SYS_lchown), vec![(1, false), (2, true)]),
    ]);
    v
}

/// EPERM unless every id argument is the mapped id or -1 ("unchanged"). The kernel answers
/// EINVAL for an id with no mapping in the user namespace, before any permission check, where
/// an ordinary user on a normal host gets EPERM; programs (and CPython's own tests) expect the
/// latter. The mapped id itself, and -1, go on to the kernel's checks as before.
fn ids_must_be_mapped(args: &[(u32, bool)], uid: u32, gid: u32) -> Vec<sock_filter> {
    let mut body = Vec::new();
    for &(arg, group) in args {
        let mapped = if group { gid } else { uid };
        body.extend([
            stmt(BPF_LD_W_ABS, off_arg_lo(arg)),
            jump(BPF_JEQ_K, mapped, 2, 0),
            jump(BPF_JEQ_K, u32::MAX, 1, 0),
            ret(errno(libc::EPERM)),
        ]);
    }
    body.push(ret(RET_ALLOW));
    body
}

fn namespace_rules(uid: u32, gid: u32) -> (Vec<sock_filter>, Vec<&'static str>) {
    let mut f = prologue();
    for (nr, args) in id_arguments() {
        f.on(
            "chown and set*id to unmapped ids (EPERM, as for an ordinary user)",
            nr,
            ids_must_be_mapped(&args, uid, gid),
        );
    }
    // fscrypt keys live in the file system, not in the mount: read-only bind mounts do not stop
    // a descriptor of any file there (the interpreter's own) from removing the user's claim to
    // a key, which locks their encrypted directories on the host. btrfs snapshots take their
    // source from a descriptor, which may sit on a read-only bind (kernels before 2024's fix
    // checked only that descriptor's inode).
    f.on(
        "TIOCSTI/TIOCLINUX, fscrypt key ioctls, btrfs/f2fs/bcachefs ioctls (FICLONE aside)",
        libc::SYS_ioctl as u32,
        ioctl_checks(
            &[
                TIOCSTI,
                TIOCLINUX,
                FS_IOC_ADD_ENCRYPTION_KEY,
                FS_IOC_REMOVE_ENCRYPTION_KEY,
                FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS,
            ],
            &VFS_COMMANDS_OF_FS_TYPES,
            &FS_PRIVATE_IOCTL_TYPES,
        ),
    );
    f.on(
        "AF_VSOCK",
        libc::SYS_socket as u32,
        vec![
            stmt(BPF_LD_W_ABS, off_arg_lo(0)),
            jump(BPF_JEQ_K, AF_VSOCK, 0, 1),
            ret(errno(libc::EAFNOSUPPORT)),
            ret(RET_ALLOW),
        ],
    );
    // Creating or changing a file with setuid/setgid bits (see SET_ID_BITS).
    let set_id = "setuid/setgid file modes";
    f.on(set_id, libc::SYS_fchmod as u32, mode_has(1, SET_ID_BITS));
    f.on(set_id, libc::SYS_fchmodat as u32, mode_has(2, SET_ID_BITS));
    f.on(set_id, SYS_FCHMODAT2, mode_has(2, SET_ID_BITS));
    f.on(set_id, libc::SYS_mknodat as u32, mode_has(2, SET_ID_BITS));
    f.on(set_id, libc::SYS_openat as u32, set_id_when_creating(2, 3));
    #[cfg(target_arch = "x86_64")]
    {
        f.on(set_id, libc::SYS_chmod as u32, mode_has(1, SET_ID_BITS));
        f.on(set_id, libc::SYS_mknod as u32, mode_has(1, SET_ID_BITS));
        f.on(set_id, libc::SYS_creat as u32, mode_has(1, SET_ID_BITS));
        f.on(set_id, libc::SYS_open as u32, set_id_when_creating(1, 2));
    }
    // openat2 passes its mode in memory seccomp cannot read: ENOSYS, and libc uses openat.
    f.on(
        "openat2 (ENOSYS)",
        SYS_OPENAT2,
        vec![ret(errno(libc::ENOSYS))],
    );
    for (nr, what, _why) in denied_syscalls() {
        f.on(what, nr, vec![ret(errno(libc::EPERM))]);
    }
    f.finish()
}

// ---------------------------------------------------------------------------------------------
// The fallback filter: for runs without any namespace (see `crate::fallback`), where the
// program shares the host's network, IPC objects and process table with the user's other
// programs, so several calls harmless inside namespaces become ways out.

const BPF_ALU_AND_K: u16 = 0x54;
/// Offset of the high 32 bits of syscall argument `i`.
const fn off_arg_hi(i: u32) -> u32 {
    20 + 8 * i
}
/// The socket type without SOCK_NONBLOCK/SOCK_CLOEXEC.
const SOCK_TYPE_MASK: u32 = 0xf;
/// World-writable: a file made so outside the granted paths (Landlock does not govern chmod)
/// would let any other local account plant content the user later trusts. Refused where
/// chmod is performed at all ([`ModeChanges::Restricted`]).
const WORLD_WRITABLE: u32 = 0o002;

/// What the fallback filter does with chmod and chown. Landlock governs neither, so in the
/// fallback they reach every file the user owns, granted or not: `chmod 644 ~/.ssh/id_rsa`,
/// or for a root caller `/etc/shadow`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModeChanges {
    /// Skipped, answering success: no mode or owner ever changes, inside the grants or out.
    /// Success rather than an error, since copying tools (shutil.copy, cp -p, tar) copy modes
    /// as a matter of course and would fail on an error.
    #[default]
    Ignored,
    /// Performed, except setuid/setgid and world-writable modes; chown as the kernel allows.
    /// Only for a program trusted not to aim them outside its writable grants (an installer
    /// making console scripts executable), since nothing else stops it.
    Restricted,
}

/// chmod and chown in all their forms (the path-based ones exist on x86_64 only).
fn mode_and_owner_changes() -> Vec<u32> {
    let n = |x: libc::c_long| x as u32;
    let mut v = vec![
        n(libc::SYS_fchmod),
        n(libc::SYS_fchmodat),
        SYS_FCHMODAT2,
        n(libc::SYS_fchown),
        n(libc::SYS_fchownat),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([n(libc::SYS_chmod), n(libc::SYS_chown), n(libc::SYS_lchown)]);
    v
}
const SYS_SETXATTRAT: u32 = 463;
const SYS_REMOVEXATTRAT: u32 = 466;
/// file_setattr(2) (Linux 6.17), the system call form of FS_IOC_FSSETXATTR; file_getattr
/// (468) only reads. Not in libc yet.
const SYS_FILE_SETATTR: u32 = 469;

// Inode and file system changes by ioctl. The kernel asks only that the caller own the file
// (or the directory), not that the descriptor be open for writing, and Landlock does not look
// at ioctls on regular files and directories: through any descriptor of a file it may only
// read, the program could set no-dump, no-atime, no-COW, compression or casefolding on one of
// the user's files (FS_IOC_SETFLAGS and its 32-bit twin, FS_IOC_FSSETXATTR: the same flags,
// project ids, extent sizes; append-only and immutable need CAP_LINUX_IMMUTABLE), make it
// permanently read-only with fs-verity, change its generation number, flip a FAT file's
// read-only or hidden attribute (the kernel calls it "equivalent to a chmod()"), or encrypt
// one of the user's empty directories with a key of its own and remove the user's fscrypt keys
// (locking their encrypted directories). Their numbers are the same on x86_64 and aarch64.
/// `_IOW('f', 2, long)`.
const FS_IOC_SETFLAGS: u32 = 0x4008_6602;
/// `_IOW('f', 2, int)`.
const FS_IOC32_SETFLAGS: u32 = 0x4004_6602;
/// `_IOW('X', 32, struct fsxattr)`.
const FS_IOC_FSSETXATTR: u32 = 0x401c_5820;
/// `_IOW('f', 133, struct fsverity_enable_arg)`.
const FS_IOC_ENABLE_VERITY: u32 = 0x4080_6685;
/// `_IOW('v', 2, long)` and `_IOW('v', 2, int)`.
const FS_IOC_SETVERSION: u32 = 0x4008_7602;
const FS_IOC32_SETVERSION: u32 = 0x4004_7602;
/// ext4's own names for the same: `_IOW('f', 4, long)` and `_IOW('f', 4, int)`.
const EXT4_IOC_SETVERSION: u32 = 0x4008_6604;
const EXT4_IOC32_SETVERSION: u32 = 0x4004_6604;
/// `_IOR('f', 19, struct fscrypt_policy_v1)` (the v2 policy is passed through the same number).
const FS_IOC_SET_ENCRYPTION_POLICY: u32 = 0x800c_6613;
/// `_IOW('f', 20, __u8[16])`: writes a salt to the file system when it has none.
const FS_IOC_GET_ENCRYPTION_PWSALT: u32 = 0x4010_6614;
/// `_IOWR('f', 23, struct fscrypt_add_key_arg)`.
const FS_IOC_ADD_ENCRYPTION_KEY: u32 = 0xc050_6617;
/// `_IOWR('f', 24, struct fscrypt_remove_key_arg)` and its `_ALL_USERS` twin (25).
const FS_IOC_REMOVE_ENCRYPTION_KEY: u32 = 0xc040_6618;
const FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS: u32 = 0xc040_6619;
/// `_IOW('r', 0x11, __u32)`.
const FAT_IOCTL_SET_ATTRIBUTES: u32 = 0x4004_7211;

// Whole ioctl types of file systems whose private commands change subvolumes, snapshots,
// quotas, compression and pinning with no more than ownership, some without the path hooks
// Landlock relies on (btrfs 0x94, f2fs 0xf5, bcachefs 0xbc: subvolume destruction unlinks by
// path without security_path_rmdir). Python programs have no use for them. Two of the VFS's
// own commands share btrfs's type, need a descriptor open for writing (which Landlock and
// read-only mounts govern) and stay: cp --reflink uses them.
const IOCTL_TYPE_MASK: u32 = 0xff00;
const FS_PRIVATE_IOCTL_TYPES: [u32; 3] = [0x9400, 0xf500, 0xbc00];
/// `_IOW(0x94, 9, int)` and `_IOW(0x94, 13, struct file_clone_range)`. (FIDEDUPERANGE,
/// `_IOWR(0x94, 54, ...)`, stays refused with the rest: it accepts a read-only descriptor of a
/// file the caller owns.)
const FICLONE: u32 = 0x4004_9409;
const FICLONERANGE: u32 = 0x4020_940d;
const VFS_COMMANDS_OF_FS_TYPES: [u32; 2] = [FICLONE, FICLONERANGE];

/// ioctl commands the fallback filter refuses with EPERM (by the command's low 32 bits).
fn fallback_denied_ioctls() -> [u32; 16] {
    [
        TIOCSTI,
        TIOCLINUX,
        FS_IOC_SETFLAGS,
        FS_IOC32_SETFLAGS,
        FS_IOC_FSSETXATTR,
        FS_IOC_ENABLE_VERITY,
        FS_IOC_SETVERSION,
        FS_IOC32_SETVERSION,
        EXT4_IOC_SETVERSION,
        EXT4_IOC32_SETVERSION,
        FS_IOC_SET_ENCRYPTION_POLICY,
        FS_IOC_GET_ENCRYPTION_PWSALT,
        FS_IOC_ADD_ENCRYPTION_KEY,
        FS_IOC_REMOVE_ENCRYPTION_KEY,
        FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS,
        FAT_IOCTL_SET_ATTRIBUTES,
    ]
}

/// An ioctl decision: the `denied` commands refused (EPERM), the `allowed` ones allowed, every
/// other command of the `denied_types` refused, the rest allowed. Only the command's low 32
/// bits are compared: it is an unsigned int, and a caller could set high bits to slip past an
/// exact 64-bit match (CVE-2019-10063).
fn ioctl_checks(denied: &[u32], allowed: &[u32], denied_types: &[u32]) -> Vec<sock_filter> {
    // Layout: load, one jump per command, AND, one jump per type, ALLOW, EPERM.
    let allow_at = 1 + denied.len() + allowed.len() + 1 + denied_types.len();
    let deny_at = allow_at + 1;
    debug_assert!(deny_at < 256);
    let to = |from: usize, target: usize| (target - from - 1) as u8;
    let mut c = vec![stmt(BPF_LD_W_ABS, off_arg_lo(1))];
    for &cmd in denied {
        let at = c.len();
        c.push(jump(BPF_JEQ_K, cmd, to(at, deny_at), 0));
    }
    for &cmd in allowed {
        let at = c.len();
        c.push(jump(BPF_JEQ_K, cmd, to(at, allow_at), 0));
    }
    c.push(stmt(BPF_ALU_AND_K, IOCTL_TYPE_MASK));
    for &t in denied_types {
        let at = c.len();
        c.push(jump(BPF_JEQ_K, t, to(at, deny_at), 0));
    }
    debug_assert_eq!(c.len(), allow_at);
    c.extend([ret(RET_ALLOW), ret(errno(libc::EPERM))]);
    c
}

/// Calls the fallback mode also refuses with EPERM: IPC objects that only an IPC namespace
/// would have made private, and that other programs of the user (or root) may be using.
fn fallback_denied_syscalls() -> Vec<(u32, &'static str, &'static str)> {
    let n = |x: libc::c_long| x as u32;
    flatten(vec![
        (
            "System V IPC",
            "System V IPC objects of the host's other programs",
            vec![
                n(libc::SYS_shmget),
                n(libc::SYS_shmat),
                n(libc::SYS_shmctl),
                n(libc::SYS_shmdt),
                n(libc::SYS_msgget),
                n(libc::SYS_msgsnd),
                n(libc::SYS_msgrcv),
                n(libc::SYS_msgctl),
                n(libc::SYS_semget),
                n(libc::SYS_semop),
                n(libc::SYS_semctl),
                n(libc::SYS_semtimedop),
            ],
        ),
        (
            "POSIX message queues",
            "POSIX message queues of the host's other programs",
            vec![
                n(libc::SYS_mq_open),
                n(libc::SYS_mq_unlink),
                n(libc::SYS_mq_timedsend),
                n(libc::SYS_mq_timedreceive),
                n(libc::SYS_mq_notify),
                n(libc::SYS_mq_getsetattr),
            ],
        ),
    ])
}

/// Setting or removing extended attributes, POSIX ACLs included: an ACL grants other users
/// access exactly like chmod, and Landlock does not govern it. EOPNOTSUPP is what copying
/// tools (shutil.copystat) already expect from file systems without xattrs.
fn xattr_writes() -> Vec<u32> {
    let n = |x: libc::c_long| x as u32;
    vec![
        n(libc::SYS_setxattr),
        n(libc::SYS_lsetxattr),
        n(libc::SYS_fsetxattr),
        n(libc::SYS_removexattr),
        n(libc::SYS_lremovexattr),
        n(libc::SYS_fremovexattr),
        SYS_SETXATTRAT,
        SYS_REMOVEXATTRAT,
    ]
}

/// Refuse (EPERM) when the mode in argument `mode_arg` has any of `bits`.
fn mode_has(mode_arg: u32, bits: u32) -> Vec<sock_filter> {
    vec![
        stmt(BPF_LD_W_ABS, off_arg_lo(mode_arg)),
        jump(BPF_JSET_K, bits, 0, 1),
        ret(errno(libc::EPERM)),
        ret(RET_ALLOW),
    ]
}

/// Refuse (EPERM) a set-id mode in argument `mode_arg` when the flags in `flags_arg` create.
fn set_id_when_creating(flags_arg: u32, mode_arg: u32) -> Vec<sock_filter> {
    vec![
        stmt(BPF_LD_W_ABS, off_arg_lo(flags_arg)),
        jump(BPF_JSET_K, OPEN_CREATES, 0, 3),
        stmt(BPF_LD_W_ABS, off_arg_lo(mode_arg)),
        jump(BPF_JSET_K, SET_ID_BITS, 0, 1),
        ret(errno(libc::EPERM)),
        ret(RET_ALLOW),
    ]
}

/// Build the fallback filter. `landlock_abi` is the kernel's Landlock ABI version: below 3
/// Landlock cannot refuse truncate(2), so the filter refuses it by path (ftruncate on a
/// descriptor Landlock let the program open for writing stays allowed). `modes` says what
/// chmod and chown do.
pub fn build_fallback_filter(landlock_abi: u32, modes: ModeChanges) -> Vec<sock_filter> {
    fallback_rules(landlock_abi, modes).0
}

/// What the fallback filter refuses, for `seal run -v` and the docs.
pub fn describe_fallback(landlock_abi: u32, modes: ModeChanges) -> String {
    fallback_rules(landlock_abi, modes).1.join(", ")
}

fn fallback_rules(landlock_abi: u32, modes: ModeChanges) -> (Vec<sock_filter>, Vec<&'static str>) {
    let mut f = prologue();
    f.on(
        "TIOCSTI/TIOCLINUX, inode flags and fs-verity (FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, \
         FS_IOC_ENABLE_VERITY), generation numbers (FS_IOC_SETVERSION), FAT attributes, \
         fscrypt policies and keys, btrfs/f2fs/bcachefs ioctls (FICLONE aside)",
        libc::SYS_ioctl as u32,
        ioctl_checks(
            &fallback_denied_ioctls(),
            &VFS_COMMANDS_OF_FS_TYPES,
            &FS_PRIVATE_IOCTL_TYPES,
        ),
    );
    f.on(
        "file_setattr",
        SYS_FILE_SETATTR,
        vec![ret(errno(libc::EPERM))],
    );
    // No socket at all: the host's network is the program's network here, and a pathname
    // Unix socket (the session bus, docker.sock, an ssh agent) is beyond Landlock before ABI 9.
    f.on(
        "every socket() (EACCES)",
        libc::SYS_socket as u32,
        vec![ret(errno(libc::EACCES))],
    );
    // Connected pairs reach nobody else, and asyncio and multiprocessing need them. Datagram
    // pairs are refused: sendto() on one may name any socket path on the host.
    f.on(
        "socketpair but AF_UNIX stream/seqpacket",
        libc::SYS_socketpair as u32,
        vec![
            stmt(BPF_LD_W_ABS, off_arg_lo(0)),
            jump(BPF_JEQ_K, libc::AF_UNIX as u32, 0, 4),
            stmt(BPF_LD_W_ABS, off_arg_lo(1)),
            stmt(BPF_ALU_AND_K, SOCK_TYPE_MASK),
            jump(BPF_JEQ_K, libc::SOCK_STREAM as u32, 2, 0),
            jump(BPF_JEQ_K, libc::SOCK_SEQPACKET as u32, 1, 0),
            ret(errno(libc::EACCES)),
            ret(RET_ALLOW),
        ],
    );
    // Lowering another process's limits (RLIMIT_CPU of 1 s) kills it without a signal, past
    // Landlock's signal scope. Reading them, and setting one's own (pid 0), stay allowed.
    f.on(
        "prlimit on other processes",
        libc::SYS_prlimit64 as u32,
        vec![
            stmt(BPF_LD_W_ABS, off_arg_lo(0)),
            jump(BPF_JEQ_K, 0, 5, 0),
            stmt(BPF_LD_W_ABS, off_arg_lo(2)),
            jump(BPF_JEQ_K, 0, 0, 2),
            stmt(BPF_LD_W_ABS, off_arg_hi(2)),
            jump(BPF_JEQ_K, 0, 1, 0),
            ret(errno(libc::EPERM)),
            ret(RET_ALLOW),
        ],
    );
    match modes {
        // RET_ERRNO with 0 skips the call and returns 0 (see ModeChanges::Ignored). The set-id
        // checks of file creation below still apply.
        ModeChanges::Ignored => {
            for nr in mode_and_owner_changes() {
                f.on(
                    "chmod and chown (skipped, answering success: no mode or owner changes, \
                     inside the granted paths or outside)",
                    nr,
                    vec![ret(errno(0))],
                );
            }
        }
        ModeChanges::Restricted => {
            let chmod_refused = SET_ID_BITS | WORLD_WRITABLE;
            let what = "world-writable and setuid/setgid modes";
            f.on(what, libc::SYS_fchmod as u32, mode_has(1, chmod_refused));
            f.on(what, libc::SYS_fchmodat as u32, mode_has(2, chmod_refused));
            f.on(what, SYS_FCHMODAT2, mode_has(2, chmod_refused));
            #[cfg(target_arch = "x86_64")]
            f.on(what, libc::SYS_chmod as u32, mode_has(1, chmod_refused));
        }
    }
    let set_id = "setuid/setgid modes of new files";
    f.on(set_id, libc::SYS_mknodat as u32, mode_has(2, SET_ID_BITS));
    f.on(set_id, libc::SYS_openat as u32, set_id_when_creating(2, 3));
    #[cfg(target_arch = "x86_64")]
    {
        f.on(set_id, libc::SYS_mknod as u32, mode_has(1, SET_ID_BITS));
        f.on(set_id, libc::SYS_creat as u32, mode_has(1, SET_ID_BITS));
        f.on(set_id, libc::SYS_open as u32, set_id_when_creating(1, 2));
    }
    f.on(
        "openat2 (ENOSYS)",
        SYS_OPENAT2,
        vec![ret(errno(libc::ENOSYS))],
    );
    for nr in xattr_writes() {
        f.on(
            "setting extended attributes and ACLs (EOPNOTSUPP)",
            nr,
            vec![ret(errno(libc::EOPNOTSUPP))],
        );
    }
    if landlock_abi < 3 {
        f.on(
            "truncate by path (Landlock ABI < 3 cannot refuse it)",
            libc::SYS_truncate as u32,
            vec![ret(errno(libc::EPERM))],
        );
    }
    for (nr, what, _why) in denied_syscalls()
        .into_iter()
        .chain(fallback_denied_syscalls())
    {
        f.on(what, nr, vec![ret(errno(libc::EPERM))]);
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's interpreter ([`evaluate`]): the decision logic is checked without
    /// installing anything.
    fn run(filter: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        evaluate(filter, arch, nr, args)
    }

    fn nr(x: libc::c_long) -> u32 {
        x as u32
    }

    #[test]
    fn the_audit_filter_refuses_as_the_main_one_and_observes_what_it_allows() {
        let main = build_filter(1000, 1000);
        let audit = build_audit_filter(&main);
        let cases: Vec<(u32, [u64; 6])> = vec![
            (nr(libc::SYS_ptrace), [0; 6]),
            (nr(libc::SYS_read), [0; 6]),
            (nr(libc::SYS_connect), [3, 0x1000, 16, 0, 0, 0]),
            (nr(libc::SYS_execve), [0x1000, 0x2000, 0, 0, 0, 0]),
            (nr(libc::SYS_sendto), [3, 0x1000, 5, 0, 0, 0]),
            (SYS_CLONE3, [0; 6]),
            (
                nr(libc::SYS_clone),
                [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0],
            ),
            (nr(libc::SYS_fchown), [3, 0, 0, 0, 0, 0]),
            (nr(libc::SYS_fchown), [3, 1000, 1000, 0, 0, 0]),
            (nr(libc::SYS_ioctl), [0, TIOCSTI as u64, 0, 0, 0, 0]),
            (0x4000_0000 | nr(libc::SYS_read), [0; 6]),
        ];
        for (n, args) in cases {
            let m = run(&main, AUDIT_ARCH, n, args);
            let a = run(&audit, AUDIT_ARCH, n, args);
            let observed = run(&build_observe_filter(), AUDIT_ARCH, n, args) == RET_USER_NOTIF;
            match m {
                RET_ALLOW if observed => assert_eq!(a, RET_USER_NOTIF, "nr {n}"),
                RET_ALLOW => assert_eq!(a, RET_ALLOW, "nr {n}"),
                k if k & 0xffff_0000 == RET_ERRNO => assert_eq!(a, RET_USER_NOTIF, "nr {n}"),
                k => assert_eq!(a, k, "nr {n}"),
            }
        }
        // A foreign architecture is still killed outright.
        assert_eq!(run(&audit, 0x4000_0003, 0, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(
            evaluate(&[jump(0x99, 0, 0, 0)], AUDIT_ARCH, 0, [0; 6]),
            RET_KILL_PROCESS
        );
        assert_eq!(refused_name(nr(libc::SYS_ptrace)), Some("ptrace"));
    }

    #[test]
    fn the_observe_filter_stops_connect_addressed_sendto_and_exec_only() {
        let f = build_observe_filter();
        let at = |call, args| run(&f, AUDIT_ARCH, nr(call), args);
        assert_eq!(
            at(libc::SYS_connect, [3, 0x1000, 16, 0, 0, 0]),
            RET_USER_NOTIF
        );
        assert_eq!(
            at(libc::SYS_sendto, [3, 0x1000, 5, 0, 0x2000, 16]),
            RET_USER_NOTIF
        );
        // A destination above 4 GiB: the high word alone decides.
        let high = 0x7fff_0000_0000u64;
        assert_eq!(
            at(libc::SYS_sendto, [3, 0x1000, 5, 0, high, 16]),
            RET_USER_NOTIF
        );
        assert_eq!(at(libc::SYS_sendto, [3, 0x1000, 5, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            at(libc::SYS_execve, [0x1000, 0x2000, 0, 0, 0, 0]),
            RET_USER_NOTIF
        );
        assert_eq!(
            at(libc::SYS_execveat, [3, 0x1000, 0x2000, 0, 0, 0]),
            RET_USER_NOTIF
        );
        for other in [libc::SYS_sendmsg, libc::SYS_socket, libc::SYS_openat] {
            assert_eq!(at(other, [0; 6]), RET_ALLOW);
        }
        assert_eq!(
            run(&f, 0x4000_0003, nr(libc::SYS_connect), [0; 6]),
            RET_ALLOW
        );
    }

    /// What [`prologue`] promises, in every filter built on it.
    fn assert_prologue(f: &[sock_filter]) {
        assert_eq!(run(f, AUDIT_ARCH, SYS_CLONE3, [0; 6]), errno(libc::ENOSYS));
        let newuser = libc::CLONE_NEWUSER as u64;
        assert_eq!(
            run(f, AUDIT_ARCH, nr(libc::SYS_clone), [newuser, 0, 0, 0, 0, 0]),
            errno(libc::EPERM)
        );
    }

    #[test]
    fn allows_ordinary_calls() {
        let f = build_filter(1000, 1000);
        for s in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_mmap,
            libc::SYS_execve,
        ] {
            assert_eq!(run(&f, AUDIT_ARCH, nr(s), [0; 6]), RET_ALLOW);
        }
        // Thread creation and fork-like clone stay allowed.
        let thread_flags =
            (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_THREAD) as u64;
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_clone),
                [thread_flags, 0, 0, 0, 0, 0]
            ),
            RET_ALLOW
        );
        assert_eq!(
            run(&f, AUDIT_ARCH, nr(libc::SYS_ioctl), [1, 0x5401, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_socket),
                [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]
            ),
            RET_ALLOW
        );
    }

    #[test]
    fn unmapped_ids_are_refused_with_eperm_and_mapped_ones_reach_the_kernel() {
        let f = build_filter(1000, 1001);
        let eperm = errno(libc::EPERM);
        let minus_one = u32::MAX as u64;
        let fchownat = nr(libc::SYS_fchownat);
        let call = |nr: u32, a: [u64; 6]| run(&f, AUDIT_ARCH, nr, a);
        assert_eq!(call(fchownat, [3, 0, 1000, 1001, 0, 0]), RET_ALLOW);
        assert_eq!(call(fchownat, [3, 0, minus_one, 1001, 0, 0]), RET_ALLOW);
        assert_eq!(call(fchownat, [3, 0, 1000, minus_one, 0, 0]), RET_ALLOW);
        assert_eq!(call(fchownat, [3, 0, 65534, 1001, 0, 0]), eperm);
        assert_eq!(call(fchownat, [3, 0, 1000, 65534, 0, 0]), eperm);
        // The group argument is checked against the gid, not the uid.
        assert_eq!(call(fchownat, [3, 0, 1000, 1000, 0, 0]), eperm);
        assert_eq!(call(nr(libc::SYS_fchown), [3, 0, 1001, 0, 0, 0]), eperm);
        let setresuid = nr(libc::SYS_setresuid);
        assert_eq!(call(setresuid, [1000, 1000, 1000, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            call(setresuid, [minus_one, 1000, minus_one, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(call(setresuid, [1000, 1000, 0, 0, 0, 0]), eperm);
        assert_eq!(call(nr(libc::SYS_setuid), [65534, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(call(nr(libc::SYS_setgid), [1001, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(nr(libc::SYS_setregid), [1001, 0, 0, 0, 0, 0]), eperm);
        // Only the low 32 bits are an id, as for the kernel.
        assert_eq!(
            call(nr(libc::SYS_setuid), [(7 << 32) | 1000, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert!(describe().contains("unmapped ids"));
    }

    #[test]
    fn denies_dangerous_calls() {
        let f = build_filter(1000, 1000);
        for (s, _, _) in denied_syscalls() {
            assert_eq!(
                run(&f, AUDIT_ARCH, s, [0; 6]),
                errno(libc::EPERM),
                "syscall {s}"
            );
        }
        assert_prologue(&f);
    }

    /// btrfs's, f2fs's and bcachefs's own ioctls refused whatever their size and direction;
    /// the VFS's FICLONE and FICLONERANGE, which share btrfs's type, allowed.
    fn assert_fs_private_ioctls_refused(f: &[sock_filter]) {
        let high = 0xdead_beef_0000_0000u64;
        for c in [
            // btrfs: snapshot creation and destruction, subvolume flags, the label, dedupe.
            0x5000_9401u64,
            0x5000_9417,
            0x5000_940f,
            0x4008_941a,
            0x4100_9432,
            0xc018_9436, /* FIDEDUPERANGE: takes a read-only descriptor */
            0x9400,
            high | 0x9401,
            // f2fs: pinning, compression.
            0x4004_f50d,
            0x8008_f512,
            // bcachefs: subvolume destruction.
            0x4010_bc11,
        ] {
            assert_eq!(
                run(f, AUDIT_ARCH, nr(libc::SYS_ioctl), [3, c, 0, 0, 0, 0]),
                errno(libc::EPERM),
                "ioctl {c:#x}"
            );
        }
        for c in [FICLONE, FICLONERANGE, 0x9500, 0x9300, 0xf600, 0xbd00] {
            assert_eq!(
                run(
                    f,
                    AUDIT_ARCH,
                    nr(libc::SYS_ioctl),
                    [3, c as u64, 0, 0, 0, 0]
                ),
                RET_ALLOW,
                "ioctl {c:#x}"
            );
        }
    }

    #[test]
    fn ioctl_checks_only_the_low_32_bits_of_the_command() {
        let f = build_filter(1000, 1000);
        assert_fs_private_ioctls_refused(&f);
        let high = 0xdead_beef_0000_0000u64;
        for cmd in [
            TIOCSTI,
            TIOCLINUX,
            FS_IOC_ADD_ENCRYPTION_KEY,
            FS_IOC_REMOVE_ENCRYPTION_KEY,
            FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS,
        ] {
            for c in [cmd as u64, high | cmd as u64] {
                assert_eq!(
                    run(&f, AUDIT_ARCH, nr(libc::SYS_ioctl), [0, c, 0, 0, 0, 0]),
                    errno(libc::EPERM),
                    "ioctl {c:#x}"
                );
            }
        }
        // Everything else, including the fscrypt calls that only read.
        for c in [0x5401u64, 0x541b, 0x8010_661b, 0xc080_661a, 0x4008_6602] {
            assert_eq!(
                run(&f, AUDIT_ARCH, nr(libc::SYS_ioctl), [0, c, 0, 0, 0, 0]),
                RET_ALLOW,
                "ioctl {c:#x}"
            );
        }
    }

    #[test]
    fn setuid_and_setgid_modes_are_refused() {
        let f = build_filter(1000, 1000);
        let eperm = errno(libc::EPERM);
        let creat = libc::O_CREAT as u64 | libc::O_WRONLY as u64;
        let mut cases: Vec<(u32, [u64; 6], u32)> = vec![
            (nr(libc::SYS_fchmod), [3, 0o4755, 0, 0, 0, 0], eperm),
            (nr(libc::SYS_fchmodat), [0, 0, 0o2755, 0, 0, 0], eperm),
            (SYS_FCHMODAT2, [0, 0, 0o6755, 0, 0, 0], eperm),
            (nr(libc::SYS_fchmodat), [0, 0, 0o755, 0, 0, 0], RET_ALLOW),
            (nr(libc::SYS_openat), [0, 0, creat, 0o4755, 0, 0], eperm),
            (nr(libc::SYS_openat), [0, 0, creat, 0o644, 0, 0], RET_ALLOW),
            // Without O_CREAT the mode argument is unused (and may hold anything).
            (nr(libc::SYS_openat), [0, 0, 0, 0o4755, 0, 0], RET_ALLOW),
            (nr(libc::SYS_mknodat), [0, 0, 0o104755, 0, 0, 0], eperm),
            (SYS_OPENAT2, [0; 6], errno(libc::ENOSYS)),
        ];
        #[cfg(target_arch = "x86_64")]
        cases.extend([
            (nr(libc::SYS_chmod), [0, 0o4777, 0, 0, 0, 0], eperm),
            (nr(libc::SYS_open), [0, creat, 0o2755, 0, 0, 0], eperm),
            (nr(libc::SYS_creat), [0, 0o4700, 0, 0, 0, 0], eperm),
        ]);
        for (call, args, want) in cases {
            assert_eq!(
                run(&f, AUDIT_ARCH, call, args),
                want,
                "syscall {call} {args:?}"
            );
        }
    }

    #[test]
    fn vsock_and_foreign_abis_are_refused() {
        let f = build_filter(1000, 1000);
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_socket),
                [AF_VSOCK as u64, 1, 0, 0, 0, 0]
            ),
            errno(libc::EAFNOSUPPORT)
        );
        assert_eq!(run(&f, 0x4000_0003 /* i386 */, 0, [0; 6]), RET_KILL_PROCESS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                X32_SYSCALL_BIT | nr(libc::SYS_getpid),
                [0; 6]
            ),
            errno(libc::ENOSYS)
        );
    }

    #[test]
    fn every_jump_stays_inside_the_program() {
        let f = build_filter(1000, 1000);
        for (i, ins) in f.iter().enumerate() {
            if ins.code != BPF_RET_K && ins.code != BPF_LD_W_ABS {
                assert!(i + 1 + (ins.jt.max(ins.jf) as usize) < f.len());
            }
        }
        assert!(f.len() < 4096);
    }
    #[test]
    fn fallback_refuses_every_socket_but_connected_unix_pairs() {
        let f = build_fallback_filter(6, ModeChanges::Ignored);
        let eacces = errno(libc::EACCES);
        let socket = nr(libc::SYS_socket);
        for family in [
            libc::AF_UNIX,
            libc::AF_INET,
            libc::AF_INET6,
            libc::AF_NETLINK,
            40,
        ] {
            let args = [family as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
            assert_eq!(run(&f, AUDIT_ARCH, socket, args), eacces, "family {family}");
        }
        let pair = nr(libc::SYS_socketpair);
        let unix = libc::AF_UNIX as u64;
        let flags = (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u64;
        for (family, ty, want) in [
            (unix, libc::SOCK_STREAM as u64, RET_ALLOW),
            (unix, libc::SOCK_STREAM as u64 | flags, RET_ALLOW),
            (unix, libc::SOCK_SEQPACKET as u64 | flags, RET_ALLOW),
            (unix, libc::SOCK_DGRAM as u64, eacces),
            (unix, libc::SOCK_DGRAM as u64 | flags, eacces),
            (libc::AF_INET as u64, libc::SOCK_STREAM as u64, eacces),
        ] {
            assert_eq!(
                run(&f, AUDIT_ARCH, pair, [family, ty, 0, 0, 0, 0]),
                want,
                "socketpair({family}, {ty:#x})"
            );
        }
    }

    #[test]
    fn fallback_keeps_the_namespace_filters_refusals() {
        let f = build_fallback_filter(6, ModeChanges::Ignored);
        for (s, _, _) in denied_syscalls()
            .into_iter()
            .chain(fallback_denied_syscalls())
        {
            assert_eq!(
                run(&f, AUDIT_ARCH, s, [0; 6]),
                errno(libc::EPERM),
                "syscall {s}"
            );
        }
        for s in [
            SYS_IO_URING_SETUP,
            SYS_IO_URING_ENTER,
            SYS_IO_URING_REGISTER,
        ] {
            assert_eq!(run(&f, AUDIT_ARCH, s, [0; 6]), errno(libc::EPERM));
        }
        assert_prologue(&f);
        let fork_like = libc::SIGCHLD as u64;
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_clone),
                [fork_like, 0, 0, 0, 0, 0]
            ),
            RET_ALLOW
        );
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_ioctl),
                [0, TIOCSTI as u64, 0, 0, 0, 0]
            ),
            errno(libc::EPERM)
        );
        assert_eq!(run(&f, 0x4000_0003, 0, [0; 6]), RET_KILL_PROCESS);
        for s in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_execve,
            libc::SYS_kill,
        ] {
            assert_eq!(run(&f, AUDIT_ARCH, nr(s), [0; 6]), RET_ALLOW);
        }
    }

    #[test]
    fn fallback_prlimit_only_on_itself_or_read_only() {
        let f = build_fallback_filter(6, ModeChanges::Ignored);
        let call = nr(libc::SYS_prlimit64);
        let ptr = 0x7fff_1234_5678u64;
        for (args, want) in [
            ([0, libc::RLIMIT_CPU as u64, ptr, 0, 0, 0], RET_ALLOW),
            ([4242, libc::RLIMIT_CPU as u64, 0, ptr, 0, 0], RET_ALLOW),
            (
                [4242, libc::RLIMIT_CPU as u64, ptr, 0, 0, 0],
                errno(libc::EPERM),
            ),
            // A pointer whose low half is zero is still a pointer.
            ([4242, 0, 0x1_0000_0000, 0, 0, 0], errno(libc::EPERM)),
        ] {
            assert_eq!(run(&f, AUDIT_ARCH, call, args), want, "prlimit64 {args:?}");
        }
    }

    #[test]
    fn fallback_skips_chmod_and_chown_answering_success() {
        let f = build_fallback_filter(6, ModeChanges::Ignored);
        // RET_ERRNO with data 0: the kernel skips the call and returns 0.
        let skipped = RET_ERRNO;
        assert_eq!(errno(0), skipped);
        for call in mode_and_owner_changes() {
            for mode in [0o644, 0o600, 0o777, 0o4755, 0] {
                // The mode (or uid) sits in argument 1 or 2 depending on the call.
                for args in [[3, mode, 0, 0, 0, 0], [0, 0, mode, 0, 0, 0]] {
                    assert_eq!(
                        run(&f, AUDIT_ARCH, call, args),
                        skipped,
                        "syscall {call} {args:?}"
                    );
                }
            }
        }
        let mut names = vec![
            libc::SYS_fchmod,
            libc::SYS_fchmodat,
            libc::SYS_fchown,
            libc::SYS_fchownat,
        ];
        #[cfg(target_arch = "x86_64")]
        names.extend([libc::SYS_chmod, libc::SYS_chown, libc::SYS_lchown]);
        for s in names {
            assert_eq!(run(&f, AUDIT_ARCH, nr(s), [0; 6]), skipped, "syscall {s}");
        }
        assert_eq!(run(&f, AUDIT_ARCH, SYS_FCHMODAT2, [0; 6]), skipped);
        // Creating files is untouched, set-id modes still refused.
        let creat = libc::O_CREAT as u64 | libc::O_WRONLY as u64;
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_openat),
                [0, 0, creat, 0o644, 0, 0]
            ),
            RET_ALLOW
        );
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_openat),
                [0, 0, creat, 0o4755, 0, 0]
            ),
            errno(libc::EPERM)
        );
        assert_eq!(
            run(
                &f,
                AUDIT_ARCH,
                nr(libc::SYS_mknodat),
                [0, 0, 0o102755, 0, 0, 0]
            ),
            errno(libc::EPERM)
        );
        // Reading modes and owners stays allowed.
        for s in [libc::SYS_fstat, libc::SYS_statx, libc::SYS_newfstatat] {
            assert_eq!(run(&f, AUDIT_ARCH, nr(s), [0; 6]), RET_ALLOW);
        }
    }

    #[test]
    fn fallback_refuses_world_writable_modes_xattrs_and_old_kernel_truncate() {
        let f = build_fallback_filter(6, ModeChanges::Restricted);
        let eperm = errno(libc::EPERM);
        let creat = libc::O_CREAT as u64 | libc::O_WRONLY as u64;
        let mut cases: Vec<(u32, [u64; 6], u32)> = vec![
            (nr(libc::SYS_fchmod), [3, 0o644, 0, 0, 0, 0], RET_ALLOW),
            (nr(libc::SYS_fchmod), [3, 0o666, 0, 0, 0, 0], eperm),
            (nr(libc::SYS_fchmodat), [0, 0, 0o777, 0, 0, 0], eperm),
            (nr(libc::SYS_fchmodat), [0, 0, 0o4755, 0, 0, 0], eperm),
            (nr(libc::SYS_fchmodat), [0, 0, 0o755, 0, 0, 0], RET_ALLOW),
            (SYS_FCHMODAT2, [0, 0, 0o646, 0, 0, 0], eperm),
            (nr(libc::SYS_fchown), [3, 1000, 1000, 0, 0, 0], RET_ALLOW),
            // Creating with 0o666 is ordinary (the umask applies); only set-id bits are refused.
            (nr(libc::SYS_openat), [0, 0, creat, 0o666, 0, 0], RET_ALLOW),
            (nr(libc::SYS_openat), [0, 0, creat, 0o2755, 0, 0], eperm),
            (nr(libc::SYS_truncate), [0; 6], RET_ALLOW),
        ];
        for s in xattr_writes() {
            cases.push((s, [0; 6], errno(libc::EOPNOTSUPP)));
        }
        #[cfg(target_arch = "x86_64")]
        cases.extend([
            (nr(libc::SYS_chmod), [0, 0o777, 0, 0, 0, 0], eperm),
            (nr(libc::SYS_chmod), [0, 0o600, 0, 0, 0, 0], RET_ALLOW),
        ]);
        for (call, args, want) in cases {
            assert_eq!(
                run(&f, AUDIT_ARCH, call, args),
                want,
                "syscall {call} {args:?}"
            );
        }
        // The ignored variant refuses extended attributes the same way.
        let ignored = build_fallback_filter(6, ModeChanges::Ignored);
        for s in xattr_writes() {
            assert_eq!(
                run(&ignored, AUDIT_ARCH, s, [0; 6]),
                errno(libc::EOPNOTSUPP)
            );
        }
        for modes in [ModeChanges::Ignored, ModeChanges::Restricted] {
            let old = build_fallback_filter(2, modes);
            assert_eq!(run(&old, AUDIT_ARCH, nr(libc::SYS_truncate), [0; 6]), eperm);
            assert_eq!(
                run(&old, AUDIT_ARCH, nr(libc::SYS_ftruncate), [0; 6]),
                RET_ALLOW
            );
        }
    }

    #[test]
    fn fallback_refuses_inode_flag_changes() {
        const FS_IOC_GETFLAGS: u64 = 0x8008_6601;
        const FS_IOC_FSGETXATTR: u64 = 0x801c_581f;
        const SYS_FILE_GETATTR: u32 = 468;
        let eperm = errno(libc::EPERM);
        let ioctl = nr(libc::SYS_ioctl);
        for modes in [ModeChanges::Ignored, ModeChanges::Restricted] {
            for abi in [1, 4, 6] {
                let f = build_fallback_filter(abi, modes);
                let high = 0xdead_beef_0000_0000u64;
                for cmd in fallback_denied_ioctls() {
                    for c in [cmd as u64, high | cmd as u64] {
                        assert_eq!(
                            run(&f, AUDIT_ARCH, ioctl, [3, c, 0, 0, 0, 0]),
                            eperm,
                            "ioctl {c:#x}"
                        );
                    }
                }
                assert_fs_private_ioctls_refused(&f);
                for c in [
                    FS_IOC_GETFLAGS,
                    FS_IOC_FSGETXATTR,
                    0x5401,      /* TCGETS */
                    0x541b,      /* FIONREAD */
                    0x8004_7210, /* FAT_IOCTL_GET_ATTRIBUTES */
                    0xc020_660b, /* FS_IOC_FIEMAP */
                    0x8010_661b, /* FS_IOC_GET_ENCRYPTION_NONCE */
                    // Near misses: other sizes or numbers of the same type.
                    0x4010_6602,
                    0x4008_6603,
                    0x401c_5821,
                    0x4004_7212,
                ] {
                    assert_eq!(
                        run(&f, AUDIT_ARCH, ioctl, [3, c, 0, 0, 0, 0]),
                        RET_ALLOW,
                        "ioctl {c:#x}"
                    );
                }
                assert_eq!(run(&f, AUDIT_ARCH, SYS_FILE_SETATTR, [0; 6]), eperm);
                assert_eq!(run(&f, AUDIT_ARCH, SYS_FILE_GETATTR, [0; 6]), RET_ALLOW);
            }
        }
        assert!(describe_fallback(6, ModeChanges::Ignored).contains("FS_IOC_SETFLAGS"));
    }

    #[test]
    fn descriptions_name_every_rule_of_their_filter() {
        let ns = describe();
        for (_, what, why) in denied_syscalls() {
            assert!(ns.contains(what), "{what} missing from {ns}");
            assert!(!why.is_empty(), "{what} has no reason");
        }
        let old = describe_fallback(1, ModeChanges::Ignored);
        let new = describe_fallback(6, ModeChanges::Restricted);
        for (_, what, why) in denied_syscalls()
            .into_iter()
            .chain(fallback_denied_syscalls())
        {
            assert!(old.contains(what) && new.contains(what), "{what}");
            assert!(!why.is_empty(), "{what} has no reason");
        }
        assert!(old.contains("truncate") && !new.contains("truncate"));
        assert!(old.contains("chmod and chown (skipped") && new.contains("world-writable"));
        assert!(old.contains("every socket()") && !ns.contains("every socket()"));
        assert!(ns.contains("clone3 (ENOSYS)") && ns.contains("x32 and foreign ABIs"));
    }

    #[test]
    fn fallback_jumps_stay_inside_the_program() {
        for f in [
            build_fallback_filter(1, ModeChanges::Ignored),
            build_fallback_filter(6, ModeChanges::Ignored),
            build_fallback_filter(1, ModeChanges::Restricted),
            build_fallback_filter(6, ModeChanges::Restricted),
        ] {
            for (i, ins) in f.iter().enumerate() {
                if ins.code != BPF_RET_K && ins.code != BPF_LD_W_ABS && ins.code != BPF_ALU_AND_K {
                    assert!(i + 1 + (ins.jt.max(ins.jf) as usize) < f.len());
                }
            }
            assert!(f.len() < 4096);
        }
    }
}
