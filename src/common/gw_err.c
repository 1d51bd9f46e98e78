#include "gw_err.h"

static const char *const messages[] = {
#define XX(name, msg) msg,
#include "gw_err.def"
#undef XX
};
static const char *const names[] = {
#define XX(name, msg) "GW_E" #name,
#include "gw_err.def"
#undef XX
};

#define NERR GW_ERR_COUNT_

const char *gw_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err < 0 && -err <= NERR)
        return messages[-err - 1];
    return "unknown error";
}

const char *gw_errname(int err)
{
    if (err == 0)
        return "GW_OK";
    if (err < 0 && -err <= NERR)
        return names[-err - 1];
    return "GW_E?";
}
