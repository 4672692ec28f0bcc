#include "minihv-guest.h"
int main(void)
{
    return 0;
}
