// sized_delete.cpp -- C++ deletes that come with their size, for
// tests/integrations/test_preload.py (libsgipool.so's _ZdlPvm and _ZdaPvm).
//
//   sized_delete   prints one line per check; the test compares the lines
//                  under glibc and under the library, and reads the stats.
//
// Every block is kept in a global table until its delete, so that the
// compiler cannot pair a new with its delete and drop both.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <new>
#include <string>

namespace {

constexpr int kBlocks = 10000;
void *volatile kept[kBlocks];

int destroyed = 0;

struct Counted { // 16 bytes with a destructor: new[] adds an 8-byte cookie
    long a = 1, b = 2;
    ~Counted() { destroyed++; }
};

struct Big { // 40 bytes with a destructor
    char bytes[40] = {};
    ~Big() { destroyed++; }
};

// operator new(0) takes one byte; its sized delete comes with 0
void zero_sized()
{
    for (int i = 0; i < kBlocks; i++)
        kept[i] = ::operator new(0);
    for (int i = 0; i < kBlocks; i++)
        ::operator delete(kept[i], std::size_t{0});
    std::printf("new(0) and delete(p, 0): %d blocks\n", kBlocks);
}

// every class of the pool, and above it, through explicit sized calls
void every_size()
{
    long sum = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < kBlocks; i++) {
            std::size_t n = 1 + static_cast<std::size_t>(i % 160); // 1..160: both sides of 128
            char *p = static_cast<char *>(::operator new(n));
            p[0] = static_cast<char>(i);
            p[n - 1] = static_cast<char>(n);
            kept[i] = p;
        }
        for (int i = 0; i < kBlocks; i++) {
            std::size_t n = 1 + static_cast<std::size_t>(i % 160);
            char *p = static_cast<char *>(kept[i]);
            sum += p[0] + p[n - 1];
            ::operator delete(p, n);
        }
    }
    std::printf("sizes 1..160: checksum %ld\n", sum);
}

// new[] of a type with a destructor: the cookie is in the size on both sides
void arrays_with_cookies()
{
    destroyed = 0;
    for (int i = 0; i < kBlocks; i++)
        kept[i] = new Counted[1 + i % 9]; // 24..152 bytes with the cookie
    for (int i = 0; i < kBlocks; i++)
        delete[] static_cast<Counted *>(kept[i]);
    int want = 0;
    for (int i = 0; i < kBlocks; i++)
        want += 1 + i % 9;
    for (int i = 0; i < kBlocks; i++)
        kept[i] = new Big[1 + i % 3]; // 48..128 bytes with the cookie
    for (int i = 0; i < kBlocks; i++)
        delete[] static_cast<Big *>(kept[i]);
    for (int i = 0; i < kBlocks; i++)
        want += 1 + i % 3;
    // the block of a deleted Counted[1] (24 bytes: class 32) is the next one
    // malloc(32) takes on this thread, if it went back to class 32's list
    Counted *one = new Counted[1];
    void *start = reinterpret_cast<char *>(one) - sizeof(std::size_t);
    delete[] one;
    void *again = std::malloc(32);
    std::printf("arrays: %d of %d destructors ran; the cookie's block reused: %s\n",
                destroyed, want + 1, again == start ? "yes" : "no");
    std::free(again);
}

void containers()
{
    long sum = 0;
    for (int round = 0; round < 20; round++) {
        std::map<int, std::string> m;
        std::list<long> l;
        for (int i = 0; i < 2000; i++) {
            m[(i * 7919) % 5003] = std::to_string(i);
            l.push_back(i);
        }
        for (const auto &kv : m)
            sum += kv.first + static_cast<long>(kv.second.size());
        sum += static_cast<long>(l.size());
    }
    std::printf("containers: checksum %ld\n", sum);
}

} // namespace

int main()
{
    zero_sized();
    every_size();
    arrays_with_cookies();
    containers();
    return 0;
}
