"""Run a program as if on a host that forbids user namespaces, or (--without-caps) on one
that allows them but gives them no capabilities, as Ubuntu 23.10+ does with AppArmor's
kernel.apparmor_restrict_unprivileged_userns=1.

Installs a seccomp filter (inherited across execve, so it covers the program and all its
children), then execs PROGRAM. clone3(2) always fails with ENOSYS (its flags live in memory a
classic filter cannot read, so callers fall back to clone).
- default: clone(2) and unshare(2) with CLONE_NEWUSER fail with EPERM, the way a container's
  seccomp policy or a sysctl-restricted kernel answers.
- --without-caps: a user namespace alone can be created (and its id maps written), but
  clone/unshare of any other namespace type, setns, and the mount family (mount, umount2,
  pivot_root, mount_setattr, open_tree, move_mount, fsopen, fsconfig, fsmount, fspick) fail with
  EPERM: what a namespace without CAP_SYS_ADMIN gets. (On Ubuntu the id map write fails too;
  a seccomp filter cannot see which file a write goes to, so the emulation lets it through and
  the refusal comes one step later, at the first namespace or mount.)
x86_64 only; other architectures are let through untouched, which the tests check by asking
seal doctor whether namespaces are really blocked.

usage: python3 no_userns.py [--without-caps] PROGRAM [ARGS...]
"""

import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
CLONE_NEWUSER = 0x10000000
# Every namespace flag but CLONE_NEWUSER (CLONE_NEWTIME, 0x80, is left out: in clone(2)'s
# flags that bit belongs to the exit signal).
OTHER_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000
NR_CLONE, NR_UNSHARE, NR_CLONE3, NR_SETNS = 56, 272, 435, 308
# mount, umount2, pivot_root, mount_setattr, open_tree, move_mount, fsopen, fsconfig, fsmount,
# fspick
NR_MOUNT_FAMILY = [165, 166, 155, 442, 428, 429, 430, 431, 432, 433]
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38

# BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
JSET_K = 0x45
RET_K = 0x06


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


without_caps = len(sys.argv) > 1 and sys.argv[1] == "--without-caps"
if without_caps:
    del sys.argv[1]
if len(sys.argv) < 2:
    sys.exit(__doc__)

# Head: other architectures pass; clone3 is ENOSYS. The accumulator holds the syscall number
# after it.
prog = [
    insn(LD_W_ABS, 0, 0, 4),  # arch
    insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
    insn(RET_K, 0, 0, RET_ALLOW),
    insn(LD_W_ABS, 0, 0, 0),  # syscall number
    insn(JEQ_K, 0, 1, NR_CLONE3),
    insn(RET_K, 0, 0, RET_ERRNO | ENOSYS),
]
if not without_caps:
    prog += [
        insn(JEQ_K, 1, 0, NR_CLONE),
        insn(JEQ_K, 0, 3, NR_UNSHARE),
        insn(LD_W_ABS, 0, 0, 16),  # low half of the first argument (the flags)
        insn(JSET_K, 0, 1, CLONE_NEWUSER),
        insn(RET_K, 0, 0, RET_ERRNO | EPERM),
        insn(RET_K, 0, 0, RET_ALLOW),
    ]
else:
    refused = [NR_SETNS] + NR_MOUNT_FAMILY
    n = len(refused)
    # Each refused number jumps forward to the EPERM return placed after the clone checks.
    for i, nr in enumerate(refused):
        prog.append(insn(JEQ_K, (n - i - 1) + 5, 0, nr))
    prog += [
        insn(JEQ_K, 1, 0, NR_CLONE),
        insn(JEQ_K, 0, 2, NR_UNSHARE),
        insn(LD_W_ABS, 0, 0, 16),  # low half of the flags
        insn(JSET_K, 1, 0, OTHER_NAMESPACES),
        insn(RET_K, 0, 0, RET_ALLOW),
        insn(RET_K, 0, 0, RET_ERRNO | EPERM),
    ]

code = b"".join(prog)
buf = ctypes.create_string_buffer(code, len(code))


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit("no_userns.py: PR_SET_NO_NEW_PRIVS failed: errno %d" % ctypes.get_errno())
if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit("no_userns.py: installing the filter failed: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
