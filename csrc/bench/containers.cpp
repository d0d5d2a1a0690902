// containers.cpp -- node-based C++ containers on four allocators, for
// `python -m pool bench` (which compiles this file with g++ -O2 and links the
// pool's C sources, compiled with gcc as the extension compiles them).
//
//   std::allocator   operator new / delete, i.e. glibc malloc / free
//   __pool_alloc     libstdc++'s own SGI node allocator (__gnu_cxx::__pool_alloc):
//                    the same free lists, behind one global mutex taken on every
//                    call (glibc >= 2.34 always reports threads active)
//   pool-ts          sgi_pool, unchecked and thread-safe (its spin lock, uncontended)
//   pool             sgi_pool, unchecked and single-thread
//
// Workloads, each on N distinct int keys in a fixed shuffled order:
//   map   std::map<int, int>: N inserts, then N erases by key in another order
//   set   std::set<int>: the same
//   list  std::list<int>: N push_back, then N pop_front
// One timed run performs `rounds` such cycles; the result is nanoseconds per
// element (one insert plus one erase: one node allocated and freed).
//
// Usage: containers REPEATS ROUNDS N CLOCK   (CLOCK: cpu or wall)
// Prints one JSON object on stdout: the samples of every (container, allocator)
// after one untimed warm-up run of each; allocators take turns within each
// repeat (rotating the order), so machine noise hits them alike.
#include <ext/pool_allocator.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <time.h>
#include <vector>

#include "sgi_pool.h"

namespace {

sgi_pool *g_pool[2];  // [0] thread-safe, [1] single-thread; both unchecked
clockid_t g_clock = CLOCK_THREAD_CPUTIME_ID;

std::int64_t now_ns()
{
    timespec ts;
    clock_gettime(g_clock, &ts);
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A minimal C++11 allocator over one of the pools: allocate and deallocate
// are sgi_pool_allocate and sgi_pool_deallocate with the byte size.
template <class T, int K>
struct sgi_allocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = sgi_allocator<U, K>;
    };
    sgi_allocator() noexcept = default;
    template <class U>
    sgi_allocator(const sgi_allocator<U, K> &) noexcept {}
    T *allocate(std::size_t n)
    {
        void *p = sgi_pool_allocate(g_pool[K], n * sizeof(T));
        if (p == nullptr)
            throw std::bad_alloc();
        return static_cast<T *>(p);
    }
    void deallocate(T *p, std::size_t n) noexcept
    {
        sgi_pool_deallocate(g_pool[K], p, n * sizeof(T));
    }
};
template <class T, class U, int K>
bool operator==(const sgi_allocator<T, K> &, const sgi_allocator<U, K> &) { return true; }
template <class T, class U, int K>
bool operator!=(const sgi_allocator<T, K> &, const sgi_allocator<U, K> &) { return false; }

struct Keys {
    std::vector<int> insert_order, erase_order;
};

long g_check = 0;  // a result the compiler cannot drop

template <class Map>
void map_cycle(const Keys &k)
{
    Map m;
    for (int key : k.insert_order)
        m.emplace(key, key);
    g_check += long(m.size());
    for (int key : k.erase_order)
        m.erase(key);
    g_check += long(m.size());
}

template <class Set>
void set_cycle(const Keys &k)
{
    Set s;
    for (int key : k.insert_order)
        s.insert(key);
    g_check += long(s.size());
    for (int key : k.erase_order)
        s.erase(key);
    g_check += long(s.size());
}

template <class List>
void list_cycle(const Keys &k)
{
    List l;
    for (int key : k.insert_order)
        l.push_back(key);
    g_check += long(l.size());
    while (!l.empty()) {
        g_check += l.front();
        l.pop_front();
    }
}

using Cycle = void (*)(const Keys &);

struct Variant {
    const char *name;
    Cycle cycle;
};

// One timed run: `rounds` cycles; nanoseconds per element.
double timed(Cycle cycle, const Keys &k, int rounds)
{
    std::int64_t t0 = now_ns();
    for (int r = 0; r < rounds; r++)
        cycle(k);
    std::int64_t t1 = now_ns();
    return double(t1 - t0) / (double(rounds) * double(k.insert_order.size()));
}

template <class K, class V>
using map_std = std::map<K, V, std::less<K>, std::allocator<std::pair<const K, V>>>;
template <class K, class V>
using map_gnu = std::map<K, V, std::less<K>, __gnu_cxx::__pool_alloc<std::pair<const K, V>>>;
template <class K, class V, int P>
using map_sgi = std::map<K, V, std::less<K>, sgi_allocator<std::pair<const K, V>, P>>;

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s REPEATS ROUNDS N cpu|wall\n", argv[0]);
        return 2;
    }
    int repeats = std::atoi(argv[1]);
    int rounds = std::atoi(argv[2]);
    int n = std::atoi(argv[3]);
    if (repeats < 1 || rounds < 1 || n < 1) {
        std::fprintf(stderr, "REPEATS, ROUNDS and N must be positive\n");
        return 2;
    }
    if (std::strcmp(argv[4], "wall") == 0)
        g_clock = CLOCK_MONOTONIC;

    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = 0;
    o.thread_safe = 1;
    g_pool[0] = sgi_pool_create(&o);
    o.thread_safe = 0;
    g_pool[1] = sgi_pool_create(&o);
    if (g_pool[0] == nullptr || g_pool[1] == nullptr) {
        std::fprintf(stderr, "sgi_pool_create failed\n");
        return 1;
    }

    Keys keys;
    for (int i = 0; i < n; i++)
        keys.insert_order.push_back(i);
    keys.erase_order = keys.insert_order;
    std::mt19937 rng(12345);
    std::shuffle(keys.insert_order.begin(), keys.insert_order.end(), rng);
    std::shuffle(keys.erase_order.begin(), keys.erase_order.end(), rng);

    struct Container {
        const char *name;
        Variant variants[4];
    };
    const Container containers[] = {
        {"map",
         {{"std::allocator", map_cycle<map_std<int, int>>},
          {"__pool_alloc", map_cycle<map_gnu<int, int>>},
          {"pool-ts", map_cycle<map_sgi<int, int, 0>>},
          {"pool", map_cycle<map_sgi<int, int, 1>>}}},
        {"list",
         {{"std::allocator", list_cycle<std::list<int, std::allocator<int>>>},
          {"__pool_alloc", list_cycle<std::list<int, __gnu_cxx::__pool_alloc<int>>>},
          {"pool-ts", list_cycle<std::list<int, sgi_allocator<int, 0>>>},
          {"pool", list_cycle<std::list<int, sgi_allocator<int, 1>>>}}},
        {"set",
         {{"std::allocator", set_cycle<std::set<int, std::less<int>, std::allocator<int>>>},
          {"__pool_alloc",
           set_cycle<std::set<int, std::less<int>, __gnu_cxx::__pool_alloc<int>>>},
          {"pool-ts", set_cycle<std::set<int, std::less<int>, sgi_allocator<int, 0>>>},
          {"pool", set_cycle<std::set<int, std::less<int>, sgi_allocator<int, 1>>>}}},
    };
    const int nvariants = 4;

    std::string out = "{";
    char buf[64];
    std::snprintf(buf, sizeof buf, "\"repeats\": %d, \"rounds\": %d, \"n\": %d, ", repeats,
                  rounds, n);
    out += buf;
    out += std::string("\"clock\": \"") + (g_clock == CLOCK_MONOTONIC ? "wall" : "cpu") + "\", ";
    out += std::string("\"compiler\": \"g++ ") + __VERSION__ + "\", ";
    out += std::string("\"glibcxx_force_new\": ") +
           (std::getenv("GLIBCXX_FORCE_NEW") ? "true" : "false") + ", ";
    out += "\"results\": {";
    bool first_c = true;
    for (const Container &c : containers) {
        std::vector<std::vector<double>> samples(nvariants);
        for (int v = 0; v < nvariants; v++)  // warm-up: each allocator's lists fill
            (void)timed(c.variants[v].cycle, keys, 1);
        for (int r = 0; r < repeats; r++) {
            for (int j = 0; j < nvariants; j++) {
                int v = (r + j) % nvariants;  // rotate who goes first
                samples[v].push_back(timed(c.variants[v].cycle, keys, rounds));
            }
        }
        out += first_c ? "" : ", ";
        first_c = false;
        out += std::string("\"") + c.name + "\": {";
        for (int v = 0; v < nvariants; v++) {
            out += v ? ", " : "";
            out += std::string("\"") + c.variants[v].name + "\": [";
            for (std::size_t i = 0; i < samples[v].size(); i++) {
                std::snprintf(buf, sizeof buf, "%s%.4f", i ? ", " : "", samples[v][i]);
                out += buf;
            }
            out += "]";
        }
        out += "}";
    }
    std::snprintf(buf, sizeof buf, "}, \"check\": %ld}", g_check);
    out += buf;
    std::puts(out.c_str());
    sgi_pool_destroy(g_pool[0]);
    sgi_pool_destroy(g_pool[1]);
    return 0;
}
