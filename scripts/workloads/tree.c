/* A balanced binary tree of N nodes built recursively: each node and its
 * payload are allocated before the calls that build its subtrees, so every
 * node's stack is the path of left and right calls from the root (all
 * distinct; depth log2(N), 20 for a million). The tree is searched for
 * every key, then freed ("free") or left allocated at exit with no pointer
 * to it ("leak": an exit dump of 2N unreachable blocks).
 *   tree N free|leak    prints the number of blocks allocated, 2N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
#define USE(p) __asm__ volatile("" : : "r"(p) : "memory")

struct node {
    struct node *left, *right;
    long key;
    char *payload;
};

NOINLINE static struct node *build(long lo, long hi)
{
    if (lo > hi)
        return NULL;
    long mid = lo + (hi - lo) / 2;
    struct node *n = malloc(sizeof *n);
    n->key = mid;
    n->payload = malloc(16 + (size_t)(mid % 49));
    n->payload[0] = (char)mid;
    n->left = build(lo, mid - 1);
    USE(n);
    n->right = build(mid + 1, hi);
    USE(n);
    return n;
}

NOINLINE static void release(struct node *n)
{
    if (!n)
        return;
    release(n->left);
    release(n->right);
    free(n->payload);
    free(n);
}

static long search(const struct node *n, long key)
{
    while (n) {
        if (key == n->key)
            return n->payload[0];
        n = key < n->key ? n->left : n->right;
    }
    return -1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int leak = argc > 2 && strcmp(argv[2], "leak") == 0;
    struct node *root = build(0, n - 1);
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += search(root, (i * 7919) % n);
    USE(sum);
    if (!leak)
        release(root);
    root = NULL;
    USE(root);
    printf("%ld\n", 2 * n);
    return 0;
}
