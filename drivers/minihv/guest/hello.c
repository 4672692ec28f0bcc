/* hello: prints a greeting that names its mode, then powers off. */
#include "minihv-guest.h"

int main(void)
{
    printf("Hello from minihv (%s mode)\n", sys_mode());
    return 0;
}
