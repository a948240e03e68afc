/* A C extension that reaches for the network and starts a process from its module
 * initialiser, through libc and never through Python's socket or subprocess modules, so that
 * Python's audit hooks see nothing: a TCP connect(), a UDP sendto() and fork + execve of
 * `/bin/true seal-native-probe`. The addresses are the sandbox's own loopback only
 * (127.0.0.1:9 and :10, discard ports), so nothing would leave even if the sandbox failed. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
