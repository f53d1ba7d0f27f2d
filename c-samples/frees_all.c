/* Allocates and frees everything it allocated, printing nothing (stdout's
 * buffer would stay live): its exit dump has no live block, and must still
 * say it was classified (field.rs). */
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc(16 + i);
        memset(keep[i], i, 16 + i);
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    return 0;
}
