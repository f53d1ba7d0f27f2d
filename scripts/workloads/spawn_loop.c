/* spawn_loop N PROGRAM [ARGS...]: runs PROGRAM N times, one after the
 * other (posix_spawn, then wait), with this process's environment; prints
 * N. The per-process workload of scripts/bench: what starting and ending a
 * process costs, natively and traced (the children inherit LD_PRELOAD). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: spawn_loop N PROGRAM [ARGS...]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) {
            perror("posix_spawn");
            return 1;
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 1;
    }
    printf("%d\n", n);
    return 0;
}
