/*
 * sgi_pool.h -- in a source checkout, the core's header for the folder that
 * pool.get_include() names (csrc/python): the real one is csrc/sgi_pool.h,
 * which the wheel ships itself under pool/include.
 */
#include "../sgi_pool.h"
