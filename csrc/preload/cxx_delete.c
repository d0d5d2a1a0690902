/*
 * cxx_delete.c -- the decision of cxx_delete.h: may libsgipool.so free a C++
 * sized delete with its size?
 *
 * libstdc++'s operator delete(void *p, size_t n) calls operator delete(p),
 * which calls free(p): the size is dropped, and the pool looks the block up
 * in its directory.  Freeing with n instead is right only when p came from
 * malloc(n) -- that is, from libstdc++'s operator new (plain, array or
 * nothrow: all call malloc(n ? n : 1)).  A program (or a library before
 * libstdc++ in the lookup order, another LD_PRELOAD allocator included) that
 * replaced operator new or delete pairs its own: then every sized delete
 * goes on to the next definition (dlsym RTLD_NEXT), exactly as it would
 * without this library.
 *
 * What is looked at: the global lookup scope at start-up, as the program's
 * own calls resolve.  A program with no C++ runtime at start (Python, which
 * loads its C++ extensions later with RTLD_LOCAL) is left as it is: its
 * sized deletes are passed to libstdc++'s own, found at the first call.
 */
#include "cxx_delete.h"

#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* Everything that must be libstdc++'s for the size to be the block's: the
   operators new (the block's origin) and the unsized deletes (what
   libstdc++'s sized deletes end in). */
static const char *const PAIRED[] = {
    "_Znwm",                /* operator new(size_t) */
    "_Znam",                /* operator new[](size_t) */
    "_ZnwmRKSt9nothrow_t",  /* operator new(size_t, nothrow_t const &) */
    "_ZnamRKSt9nothrow_t",  /* operator new[](size_t, nothrow_t const &) */
    "_ZdlPv",               /* operator delete(void *) */
    "_ZdaPv",               /* operator delete[](void *) */
    "_ZdlPvRKSt9nothrow_t", /* operator delete(void *, nothrow_t const &) */
    "_ZdaPvRKSt9nothrow_t", /* operator delete[](void *, nothrow_t const &) */
};

/* POSIX: dlsym's void * copied into a function pointer. */
static sized_delete_fn as_fn(void *sym)
{
    sized_delete_fn fn;
    memcpy(&fn, &sym, sizeof fn);
    return fn;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* The object holding sym (its load address and file name), or false. */
static bool object_of(void *sym, Dl_info *info)
{
    return dladdr(sym, info) != 0 && info->dli_fname != NULL;
}

void text_join(char *out, size_t room, size_t max, ...)
{
    size_t used = 0;
    va_list ap;
    va_start(ap, max);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;) {
        for (size_t i = 0; part[i] != '\0' && i < max && used + 1 < room; i++)
            out[used++] = part[i];
    }
    va_end(ap);
    if (room != 0)
        out[used] = '\0';
}

/* dl_iterate_phdr's callback: stops (1) at a loaded libstdc++. */
static int is_libstdcxx_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    return info->dlpi_name != NULL &&
           strncmp(base_name(info->dlpi_name), "libstdc++.so", 12) == 0;
}

enum cxx_mode cxx_decide(cxx_verdict *out)
{
    out->next_delete = NULL;
    out->next_delete_array = NULL;
    /* No libstdc++ loaded: no dlsym, whose failure would allocate its error
       message (from the pool, changing a C program's first carvings). */
    if (dl_iterate_phdr(is_libstdcxx_loaded, NULL) == 0) {
        text_join(out->why, sizeof out->why, SIZE_MAX, "no C++ runtime at start", NULL);
        return CXX_LATE;
    }
    void *sized = dlsym(RTLD_NEXT, "_ZdlPvm");
    void *sized_array = dlsym(RTLD_NEXT, "_ZdaPvm");
    out->next_delete = as_fn(sized);
    out->next_delete_array = as_fn(sized_array);
    out->why[0] = '\0';
    if (sized == NULL && sized_array == NULL) {
        text_join(out->why, sizeof out->why, SIZE_MAX, "no C++ runtime at start", NULL);
        return CXX_LATE;
    }
    Dl_info lib, other;
    if (sized == NULL || sized_array == NULL || !object_of(sized, &lib) ||
        strncmp(base_name(lib.dli_fname), "libstdc++.so", 12) != 0) {
        text_join(out->why, sizeof out->why, SIZE_MAX,
                  "the sized operator delete is not libstdc++'s", NULL);
        return CXX_FORWARD;
    }
    if (!object_of(sized_array, &other) || other.dli_fbase != lib.dli_fbase) {
        text_join(out->why, sizeof out->why, 120, "_ZdaPvm replaced (in ",
                  object_of(sized_array, &other) ? other.dli_fname : "?", ")", NULL);
        return CXX_FORWARD;
    }
    for (size_t i = 0; i < sizeof PAIRED / sizeof PAIRED[0]; i++) {
        void *sym = dlsym(RTLD_DEFAULT, PAIRED[i]);
        if (sym == NULL)
            continue; /* absent: nothing the program calls */
        if (!object_of(sym, &other) || other.dli_fbase != lib.dli_fbase) {
            const char *where = object_of(sym, &other) && other.dli_fname[0] != '\0'
                                    ? other.dli_fname
                                    : "the program";
            text_join(out->why, sizeof out->why, 120, "operator new/delete replaced (",
                      PAIRED[i], " in ", where, ")", NULL);
            return CXX_FORWARD;
        }
    }
    return CXX_SIZED;
}

/* name in the lookup scope of handle (the object and its dependencies), or
   NULL; never one of this library's own. */
static sized_delete_fn look_up(void *handle, const char *name, sized_delete_fn own,
                               sized_delete_fn own_array)
{
    sized_delete_fn fn = as_fn(dlsym(handle, name));
    return fn == own || fn == own_array ? NULL : fn;
}

void cxx_find_late(cxx_verdict *out, const void *caller, sized_delete_fn own,
                   sized_delete_fn own_array)
{
    void *handle = dlopen("libstdc++.so.6", RTLD_NOLOAD | RTLD_LAZY);
    Dl_info info;
    if (handle == NULL && caller != NULL && dladdr(caller, &info) != 0 &&
        info.dli_fname != NULL && info.dli_fname[0] != '\0')
        handle = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
    if (handle == NULL)
        return; /* the caller then frees without the size, as libstdc++ does */
    out->next_delete = look_up(handle, "_ZdlPvm", own, own_array);
    out->next_delete_array = look_up(handle, "_ZdaPvm", own, own_array);
    /* no dlclose: the reference RTLD_NOLOAD took keeps the object, whose
       functions are now remembered, loaded */
}
