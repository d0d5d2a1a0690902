/* A program for the LD_PRELOAD tests of the statistics and the reserved
   range (tests/integrations/test_preload.py).  One mode per run:

     fd2 PATH      opens PATH, which must become fd 2 (the test starts it
                   with stderr closed), writes "data" into it, exits with it open
     clobber PATH  dup2()s PATH over every other descriptor open on the file
                   that is stderr (the library's copy of it), then closes
                   stderr and exits with those descriptors open
     fork          forks; parent and child allocate and exit
     exhaust N     allocates 32-byte blocks until N of them came from the
                   system allocator (glibc's usable size of malloc(32) is 40,
                   the pool's 32), frees them all, allocates as many again;
                   prints "pool P1 system S1 again pool P2 system S2"
     one           allocates one 100-byte block and keeps it (the refill
                   of its class shows in the stats: POOL_PRELOAD_REFILL)

   Exits 2 on a usage error, 3 when the mode's premise does not hold. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void churn(void)
{
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = malloc((size_t)(i % 16 + 1) * 8);
    for (int i = 0; i < 64; i++)
        free(keep[i]);
}

static int fd2(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd != 2)
        return 3;
    churn();
    return write(fd, "data\n", 5) == 5 ? 0 : 3;
}

static int clobber(const char *path)
{
    struct stat err;
    if (fstat(2, &err) != 0)
        return 3;
    int file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (file < 0)
        return 3;
    int clobbered = 0;
    for (int fd = 3; fd < 4096; fd++) {
        struct stat st;
        if (fd != file && fstat(fd, &st) == 0 && st.st_dev == err.st_dev
            && st.st_ino == err.st_ino && dup2(file, fd) == fd)
            clobbered++;
    }
    printf("clobbered %d\n", clobbered);
    fflush(stdout);
    churn();
    close(2);
    return write(file, "data\n", 5) == 5 ? 0 : 3;
}

static int forks(void)
{
    churn();
    pid_t child = fork();
    if (child < 0)
        return 3;
    churn();
    if (child == 0)
        exit(0); /* atexit handlers and destructors run, as for any process */
    int status;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0 : 3;
}

typedef struct node { struct node *next; } node;

/* Allocates until `want` blocks came from the system; returns the list. */
static node *fill(long want, long *pool, long *system, long cap)
{
    node *head = NULL;
    *pool = *system = 0;
    while (*system < want && *pool + *system < cap) {
        node *n = malloc(32);
        if (n == NULL)
            break;
        if (malloc_usable_size(n) == 32)
            ++*pool;
        else
            ++*system;
        n->next = head;
        head = n;
    }
    return head;
}

static int exhaust(long want)
{
    long pool1, system1, pool2, system2;
    node *head = fill(want, &pool1, &system1, 4000000L); /* 128 MiB at most */
    while (head != NULL) {
        node *next = head->next;
        free(head);
        head = next;
    }
    head = fill(system1, &pool2, &system2, pool1 + system1); /* as many again */
    printf("pool %ld system %ld again pool %ld system %ld\n", pool1, system1, pool2, system2);
    return 0; /* the blocks stay: the stats at exit see them */
}

/* One 100-byte block, kept: its class's first refill shows in the stats. */
static int one(void)
{
    volatile char *block = malloc(100);
    if (block == NULL)
        return 1;
    block[0] = 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "one") == 0)
        return one();
    if (argc == 3 && strcmp(argv[1], "fd2") == 0)
        return fd2(argv[2]);
    if (argc == 3 && strcmp(argv[1], "clobber") == 0)
        return clobber(argv[2]);
    if (argc == 2 && strcmp(argv[1], "fork") == 0)
        return forks();
    if (argc == 3 && strcmp(argv[1], "exhaust") == 0)
        return exhaust(atol(argv[2]));
    fprintf(stderr, "usage: stats_probe fd2 PATH | clobber PATH | fork | exhaust N | one\n");
    return 2;
}
