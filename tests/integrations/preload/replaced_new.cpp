// replaced_new.cpp -- a program (or, with -DPLUGIN, a shared library) that
// replaces operator new and delete with its own arena, for
// tests/integrations/test_preload.py: its sized deletes must reach its own
// operator delete, never the pool.  It replaces only the unsized forms, as
// many programs do: libstdc++'s sized deletes call them.
//
//   replaced_new         (program) prints the arena's counts
//   work() / -DPLUGIN    the same, from a library that a C program dlopens
//   -DKEEP_OPERATORS     libstdc++'s operators: the same work, on malloc
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <new>

namespace {

alignas(16) unsigned char arena[64 << 20];
std::size_t used = 0;
long news = 0, deletes = 0, strays = 0;

void *take(std::size_t n)
{
    std::size_t at = used, need = (n + 15) & ~static_cast<std::size_t>(15);
    if (need == 0 || need > sizeof arena - at)
        std::abort();
    used += need;
    news++;
    return arena + at;
}

void give_back(void *p)
{
    if (p == nullptr)
        return;
    unsigned char *c = static_cast<unsigned char *>(p);
    if (c < arena || c >= arena + sizeof arena)
        strays++; // not the arena's: a delete that the pool's new would have fed
    else
        deletes++;
}

} // namespace

#ifndef KEEP_OPERATORS // -DKEEP_OPERATORS: libstdc++'s, on malloc (the counts stay 0)
void *operator new(std::size_t n) { return take(n); }
void *operator new[](std::size_t n) { return take(n); }
void operator delete(void *p) noexcept { give_back(p); }
void operator delete[](void *p) noexcept { give_back(p); }
#else
[[maybe_unused]] void *(*const unused_take)(std::size_t) = take;
[[maybe_unused]] void (*const unused_give_back)(void *) = give_back;
#endif

struct Counted {
    long a = 1, b = 2;
    ~Counted() {}
};

extern "C" __attribute__((visibility("default"))) int work(void)
{
    long sum = 0;
    for (int round = 0; round < 10; round++) {
        std::map<int, int> m;
        std::list<int> l;
        for (int i = 0; i < 1000; i++) {
            m[(i * 7919) % 3001] = i;
            l.push_back(i);
        }
        for (const auto &kv : m)
            sum += kv.first + kv.second;
    }
    for (int i = 0; i < 1000; i++)
        delete[] new Counted[1 + i % 5]; // the sized array delete, with a cookie
    std::printf("arena: %ld news, %ld deletes, %ld strays, checksum %ld\n", news, deletes,
                strays, sum);
    return news == deletes && strays == 0 ? 0 : 1;
}

#ifndef PLUGIN
int main() { return work(); }
#endif
