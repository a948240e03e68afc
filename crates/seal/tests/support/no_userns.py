"""Run a program as if on a host that forbids user namespaces.

Installs a seccomp filter (inherited across execve, so it covers the program and all its
children) that makes clone(2) and unshare(2) with CLONE_NEWUSER fail with EPERM, the way a
container's seccomp policy or a sysctl-restricted kernel answers, and clone3(2) fail with ENOSYS
(its flags live in memory a classic filter cannot read, so callers fall back to clone). Then
execs argv[1:]. x86_64 only; other architectures are let through untouched, which the tests
check by asking seal doctor whether namespaces are really blocked.

usage: python3 no_userns.py PROGRAM [ARGS...]
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
NR_CLONE, NR_UNSHARE, NR_CLONE3 = 56, 272, 435
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


prog = [
    insn(LD_W_ABS, 0, 0, 4),  # arch
    insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
    insn(RET_K, 0, 0, RET_ALLOW),
    insn(LD_W_ABS, 0, 0, 0),  # syscall number
    insn(JEQ_K, 0, 1, NR_CLONE3),
    insn(RET_K, 0, 0, RET_ERRNO | ENOSYS),
    insn(JEQ_K, 1, 0, NR_CLONE),
    insn(JEQ_K, 0, 3, NR_UNSHARE),
    insn(LD_W_ABS, 0, 0, 16),  # low half of the first argument (the flags)
    insn(JSET_K, 0, 1, CLONE_NEWUSER),
    insn(RET_K, 0, 0, RET_ERRNO | EPERM),
    insn(RET_K, 0, 0, RET_ALLOW),
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
