// The cost of one HMAC-SHA256 of a signed stream URL's message: OpenSSL's
// one-shot HMAC() (which looks the algorithm up and sets the key for every
// call) against HmacSha256 (the key set once; docs/benchmarks.md, "HTTP").
// Prints microseconds per MAC, three rounds; run it on an idle core:
//   taskset -c 1 build/bench/bench/hmac_bench
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "common/hmac.h"

int main() {
  const std::string key(32, 'k');
  const std::string message = "stream\n0123456789abcdef0123456789abcdef\nuser-0123456789\n7\n1796556589";
  const hifi::HmacSha256 hmac(key);
  constexpr int kCalls = 300'000;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto per_call_us = [](auto start) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / kCalls;
  };
  for (int round = 1; round <= 3; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
    }
    const double one_shot = per_call_us(start);
    start = std::chrono::steady_clock::now();
    unsigned sink = 0;
    for (int i = 0; i < kCalls; ++i) sink += hmac.mac(message)[0];
    const double kept = per_call_us(start);
    std::printf("round %d: HMAC() %.3f us, HmacSha256::mac %.3f us, ratio %.2f%s\n", round, one_shot, kept,
                kept / one_shot, sink == 1 ? " " : "");
  }
  return 0;
}
