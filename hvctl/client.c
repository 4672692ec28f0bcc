/* Client helpers shared by the backends. */
#include <stdlib.h>

#include "client.h"

Client *client_free(Client *c)
{
    if (!c)
        return NULL;
    c->ops->free(c);
    return NULL;
}
