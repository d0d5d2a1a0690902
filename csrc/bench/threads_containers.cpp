// threads_containers.cpp -- a threaded C++ program that builds and frees node
// containers on the process's malloc (std::allocator: operator new -> malloc),
// the workload of `python -m pool bench --only preload-threads` and of
// tests/integrations/test_preload.py, run with and without LD_PRELOAD.
//
//   threads_containers THREADS ROUNDS N
//
// Each of THREADS threads, in ROUNDS rounds, builds a std::map<int, int> of N
// nodes and a std::list<int> of N nodes from a per-thread random sequence,
// reads them, erases half of the map, and tears both down; every 4th round
// it hands its list to the next thread, which frees it (frees from another
// thread than the allocating one, as producer-consumer programs do).  The
// one output line is a checksum of what the threads read: it depends only on
// the arguments, not on scheduling or on the allocator.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

struct Mailbox {
    std::mutex lock;
    std::vector<std::unique_ptr<std::list<int>>> lists;
};

// xorshift32: the same sequence on every platform and allocator
std::uint32_t next(std::uint32_t &state)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

std::uint64_t work(unsigned id, unsigned rounds, unsigned n, std::vector<Mailbox> &boxes)
{
    std::uint32_t state = 0x9E3779B9u ^ (id * 0x85EBCA6Bu + 1);
    std::uint64_t sum = 0;
    for (unsigned r = 0; r < rounds; r++) {
        std::map<int, int> m;
        auto l = std::make_unique<std::list<int>>();
        for (unsigned i = 0; i < n; i++) {
            int key = static_cast<int>(next(state) % (4 * n));
            m[key] += static_cast<int>(i);
            if (i % 2 == 0)
                l->push_back(key);
            else
                l->push_front(key);
        }
        for (const auto &kv : m)
            sum = sum * 1000003u + static_cast<std::uint64_t>(kv.first) * 31u +
                  static_cast<std::uint64_t>(kv.second);
        bool drop = true; // erase every other node
        for (auto it = m.begin(); it != m.end(); drop = !drop)
            it = drop ? m.erase(it) : std::next(it);
        sum += m.size();
        l->sort();
        sum = sum * 7u + static_cast<std::uint64_t>(l->front()) + static_cast<std::uint64_t>(l->back());
        if (r % 4 == 3) { // the next thread frees this list
            Mailbox &box = boxes[(id + 1) % boxes.size()];
            std::lock_guard<std::mutex> hold(box.lock);
            box.lists.push_back(std::move(l));
        }
        std::vector<std::unique_ptr<std::list<int>>> mail;
        {
            Mailbox &mine = boxes[id];
            std::lock_guard<std::mutex> hold(mine.lock);
            mail.swap(mine.lists);
        }
        // mail (lists built by the previous thread) is freed here, by this thread
    }
    return sum;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s THREADS ROUNDS N\n", argv[0]);
        return 2;
    }
    unsigned threads = static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10));
    unsigned rounds = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
    unsigned n = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    if (threads == 0 || threads > 256 || n == 0) {
        std::fprintf(stderr, "THREADS: 1..256, N: at least 1\n");
        return 2;
    }
    std::vector<Mailbox> boxes(threads);
    std::vector<std::uint64_t> sums(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; t++)
        pool.emplace_back([t, rounds, n, &boxes, &sums] { sums[t] = work(t, rounds, n, boxes); });
    for (auto &th : pool)
        th.join();
    std::uint64_t total = 0;
    for (unsigned t = 0; t < threads; t++)
        total = total * 1099511628211u + sums[t];
    std::printf("threads %u rounds %u n %u checksum %016llx\n", threads, rounds, n,
                static_cast<unsigned long long>(total));
    return 0;
}
