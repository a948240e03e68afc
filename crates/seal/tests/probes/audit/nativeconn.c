/* A C extension that reaches for the network and starts a process from its module
 * initialiser, through libc and never through Python's socket or subprocess modules, so that
 * Python's audit hooks see nothing: a TCP connect(), a UDP sendto(), fork + execve of
 * `/bin/true seal-native-probe`, and a keyctl() that only asks for the session keyring's id
 * (the sandbox's seccomp filter refuses the keyring calls). The addresses are the sandbox's own loopback only
 * (127.0.0.1:9 and :10, discard ports), so nothing would leave even if the sandbox failed. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct PyModuleDef nativeconn = {PyModuleDef_HEAD_INIT, "nativeconn", NULL, -1, NULL};

static struct sockaddr_in loopback(unsigned short port) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

PyMODINIT_FUNC PyInit_nativeconn(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0) {
        struct sockaddr_in a = loopback(9);
        (void)connect(s, (struct sockaddr *)&a, sizeof a);
        close(s);
    }
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u >= 0) {
        struct sockaddr_in b = loopback(10);
        (void)sendto(u, "x", 1, 0, (struct sockaddr *)&b, sizeof b);
        close(u);
    }
    /* The refusal must still be a refusal while the supervisor answers it: if the call got
     * anything but EPERM, say so by a connect to port 11, which the test must never see. */
    long r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0);
    if (r >= 0 || errno != EPERM) {
        int t = socket(AF_INET, SOCK_STREAM, 0);
        if (t >= 0) {
            struct sockaddr_in c = loopback(11);
            (void)connect(t, (struct sockaddr *)&c, sizeof c);
            close(t);
        }
    }
    pid_t child = fork();
    if (child == 0) {
        char *argv[] = {"/bin/true", "seal-native-probe", NULL};
        char *envp[] = {NULL};
        execve("/bin/true", argv, envp);
        _exit(127);
    }
    if (child > 0) {
        (void)waitpid(child, NULL, 0);
    }
    return PyModule_Create(&nativeconn);
}
