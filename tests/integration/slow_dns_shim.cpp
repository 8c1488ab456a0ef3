// Preloaded into the slow-DNS integration test: getaddrinfo("slow.test") sleeps
// SPARC_SLOW_DNS_SECONDS (default 600) and then resolves 127.0.0.1, as a name server that stopped
// answering would; getaddrinfo("slow-dns-shim.test") answers 127.0.0.1 at once, so the test can
// tell the shim is loaded. Every other name goes to the C library.
#include <dlfcn.h>
#include <netdb.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) {
    using RealFn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
    static const auto real = reinterpret_cast<RealFn>(::dlsym(RTLD_NEXT, "getaddrinfo"));
    if (node != nullptr && std::strcmp(node, "slow.test") == 0) {
        const char* s = std::getenv("SPARC_SLOW_DNS_SECONDS");
        ::sleep(s != nullptr ? static_cast<unsigned>(std::atoi(s)) : 600U);
        node = "127.0.0.1";
    } else if (node != nullptr && std::strcmp(node, "slow-dns-shim.test") == 0) {
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}
