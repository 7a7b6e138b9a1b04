#include "jisr_build.h"

#ifndef JISR_COMMIT
#define JISR_COMMIT "unknown"
#endif

const char *jisr_build_commit(void) { return JISR_COMMIT; }
