/* Children: the parent leaks 100 bytes in parent_leak() and forks twice.
 * The first child leaks 200 bytes in child_leak() and exits; the second
 * execs this program with "exec-child", which leaks 300 bytes in
 * exec_leak() and exits with 4. The parent waits for both and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sample.h"

NOINLINE static void parent_leak(void)
{
    void *p = malloc(100);
    USE(p);
}

NOINLINE static void child_leak(void)
{
    void *p = malloc(200);
    USE(p);
}

NOINLINE static void exec_leak(void)
{
    void *p = malloc(300);
    USE(p);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
        exec_leak();
        return 4;
    }
    parent_leak();
    pid_t a = fork();
    if (a == 0) {
        child_leak();
        exit(0);
    }
    pid_t b = fork();
    if (b == 0) {
        execl("/proc/self/exe", argv[0], "exec-child", (char *)NULL);
        _exit(127);
    }
    int sa, sb;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    printf("children exited %d and %d\n", WEXITSTATUS(sa), WEXITSTATUS(sb));
    return 0;
}
